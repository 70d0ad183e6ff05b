"""Operations on point sets, the building blocks of PointNet++ (torch, batched, CPU or CUDA).

A batch of point sets is a tensor ``xyz`` of shape ``(B, N, 3)`` (any coordinate dimension ``D``
works where it makes sense, e.g. 2-D digits). Indices are ``LongTensor`` s that
:func:`index_points` turns back into points or features.

- :func:`farthest_point_sample`: ``m`` well-spread centroids (PointNet++'s sampling layer).
- :func:`ball_query`: up to ``k`` neighbours within a radius of each centroid (grouping layer).
- :func:`knn`: the ``k`` nearest neighbours (PointNet++'s alternative to the ball).
- :func:`interpolate`: inverse-distance weighted interpolation (feature propagation).
- augmentations: :func:`random_rotate_z`, :func:`jitter`, :func:`random_input_dropout`,
  :func:`drop_points`, :func:`add_outliers`.
- corruptions for robustness tests (the PointNet paper's Figure 6 and more):
  :func:`drop_fraction` (missing points), :func:`insert_outliers` (outliers added),
  :func:`gaussian_noise` (every point perturbed), :func:`corrupt_coordinate` (one coordinate of
  every point zeroed or replaced by noise).

Every function is vectorized over the batch and the points; only farthest point sampling loops,
once per *chosen* point, because each choice depends on the previous ones.

Conventions: point tensors are ``(B, N, D)``, points first and coordinates last; randomness comes
from an optional ``generator`` (a ``torch.Generator``; NumPy code elsewhere in the library takes
``rng``). Inputs are checked: integer coordinates are converted to torch's default float dtype;
NaN or infinite coordinates, empty sets (where a point is needed), bools as sizes, fractional
counts and non-positive radii are a ``ValueError`` that says what was expected. Sizes and radii
may be Python numbers, NumPy scalars or 0-d tensors. Distances are computed exactly (sum of
squared differences) in chunks of at most :data:`CHUNK_ELEMENTS` numbers, so the memory of
:func:`ball_query` and :func:`knn` does not grow as ``B * M * N * D``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._validate import finite_array, integer, probability, real

__all__ = [
    "add_outliers",
    "ball_query",
    "corrupt_coordinate",
    "drop_fraction",
    "drop_points",
    "farthest_point_sample",
    "gaussian_noise",
    "index_points",
    "insert_outliers",
    "interpolate",
    "jitter",
    "knn",
    "normalize_unit_sphere",
    "random_input_dropout",
    "random_rotate_z",
    "square_distance",
]

#: The most numbers one step of a distance computation holds at once (the ``(rows, N, D)``
#: differences of a chunk of rows). Larger problems are processed in chunks of rows, so the
#: memory of :func:`ball_query` and :func:`knn` does not grow as ``B * M * N * D``.
CHUNK_ELEMENTS = 1 << 22


def square_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances between every point of ``a`` and every point of ``b``.

    Shape: ``a`` (B, N, D), ``b`` (B, M, D) -> (B, N, M). Computed as the exact sum of squared
    differences (not the ``|a|² + |b|² - 2ab`` trick), so a point's distance to itself is 0;
    large inputs are processed in chunks of rows (the result is the same, only the memory of
    the intermediate differences is bounded by :data:`CHUNK_ELEMENTS`).
    """
    a = _check_points("a", a)
    b = _check_points("b", b)
    _check_pair("a", a, "b", b)
    return _sqdist(a, b)


def index_points(points: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Gather points (or per-point features) by index.

    Shape: ``points`` (B, N, C), ``idx`` (B, *S) long -> (B, *S, C). For example centroids
    ``index_points(xyz, fps_idx)`` (B, M, 3) or groups ``index_points(xyz, ball_idx)`` (B, M, k, 3).
    Features of any dtype are gathered as they are (no conversion, no finiteness check); an
    index outside ``0..N-1`` is an error of ``torch.gather``.
    """
    if not torch.is_tensor(points) or points.dim() != 3:
        shape = tuple(points.shape) if torch.is_tensor(points) else type(points).__name__
        raise ValueError(f"points must be a tensor of shape (B, N, C), got {shape}")
    if not torch.is_tensor(idx) or idx.dtype not in (torch.int64, torch.int32):
        raise ValueError(
            "idx must be an integer tensor of indices, got "
            f"{idx.dtype if torch.is_tensor(idx) else type(idx).__name__}"
        )
    if idx.dim() < 2 or idx.shape[0] != points.shape[0]:
        raise ValueError(f"idx must be (B, ...) with B={points.shape[0]}, got {tuple(idx.shape)}")
    b = points.shape[0]
    flat = idx.long().reshape(b, -1)
    out = torch.gather(points, 1, flat[..., None].expand(-1, -1, points.shape[-1]))
    return out.reshape(*idx.shape, points.shape[-1])


def farthest_point_sample(xyz: torch.Tensor, m: int, start: int = 0) -> torch.Tensor:
    """Farthest point sampling: ``m`` indices per set that cover it evenly.

    The first index is ``start``; each next one is the point whose squared Euclidean distance to
    the points already chosen (to the nearest of them) is largest (ties: the lowest index).

    Shape: ``xyz`` (B, N, D) -> LongTensor (B, m).

    Raises:
        ValueError: if ``m`` is not an integer in ``1..N``, ``start`` not an integer in
        ``0..N-1``, or ``xyz`` holds NaN or infinite coordinates.
    """
    xyz = _check_points("xyz", xyz, nonempty=True)
    b, n, _ = xyz.shape
    m = integer("m", m, minimum=1)
    if m > n:
        raise ValueError(
            f"m must be an int in 1..N={n} (cannot sample more points than the set has), got {m}"
        )
    start = integer("start", start, minimum=0)
    if start >= n:
        raise ValueError(f"start must be an index in 0..{n - 1}, got {start}")
    return _fps(xyz, m, start)


def ball_query(xyz: torch.Tensor, centroids: torch.Tensor, radius: float, k: int) -> torch.Tensor:
    """The first ``k`` points (in index order) within ``radius`` of each centroid.

    A point is inside when its squared distance, computed exactly as the sum of squared
    coordinate differences in ``xyz``'s dtype, is strictly below ``radius**2``: a point exactly on
    the sphere is outside, and no tolerance is involved (the chunked computation gives the same
    indices as computing all distances at once). When fewer than ``k`` are inside, the list is
    padded by repeating the first index found (so a group always has ``k`` entries and the max
    pooling over it is unaffected). A centroid with no point inside (possible only when it is not
    itself one of the points) gets its nearest point.

    Memory: the centroids are processed in chunks, so the intermediate distances hold at most
    about :data:`CHUNK_ELEMENTS` numbers (or one centroid's row); only the result grows with
    ``B * M * k``.

    Shape: ``xyz`` (B, N, D), ``centroids`` (B, M, D) -> LongTensor (B, M, k).

    Raises:
        ValueError: for a radius that is not a positive number, ``k`` not a positive integer, a
        set with no points, NaN or infinite coordinates, or mismatched B or D.
    """
    xyz = _check_points("xyz", xyz, nonempty=True)
    centroids = _check_points("centroids", centroids)
    _check_pair("xyz", xyz, "centroids", centroids)
    radius = real("radius", radius, positive=True)
    k = integer("k", k, minimum=1)
    return _ball_query(xyz, centroids, radius, k)


def knn(xyz: torch.Tensor, centroids: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the ``k`` nearest points to each centroid, nearest first.

    Shape: ``xyz`` (B, N, D), ``centroids`` (B, M, D) -> LongTensor (B, M, k). Processed in
    chunks of centroids like :func:`ball_query`.
    """
    xyz = _check_points("xyz", xyz, nonempty=True)
    centroids = _check_points("centroids", centroids)
    _check_pair("xyz", xyz, "centroids", centroids)
    k = integer("k", k, minimum=1)
    b, n, d = xyz.shape
    if k > n:
        raise ValueError(f"k must be an int in 1..N={n}, got {k}")
    m = centroids.shape[1]
    rows = _row_chunks(b, n, d)
    parts = [
        _sqdist(centroids[:, i : i + rows], xyz).topk(k, dim=-1, largest=False).indices
        for i in range(0, max(m, 1), rows)
    ]
    return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]


def interpolate(
    xyz: torch.Tensor,
    xyz_known: torch.Tensor,
    feats_known: torch.Tensor,
    k: int = 3,
    p: float = 2.0,
) -> torch.Tensor:
    """Inverse-distance weighted interpolation of features (PointNet++ feature propagation).

    Each point of ``xyz`` gets the weighted mean of the features of its ``k`` nearest points in
    ``xyz_known``, with weights ``1 / d**p`` (``d`` the Euclidean distance) normalized to sum to 1.
    A point that coincides with a known point gets (to float rounding) that point's features.
    With fewer than ``k`` known points, all of them are used.

    Shape: ``xyz`` (B, N, D), ``xyz_known`` (B, M, D), ``feats_known`` (B, M, C) -> (B, N, C).

    Raises:
        ValueError: when there are no known points, ``feats_known`` has not one row per known
        point, ``k`` is not a positive integer, ``p`` is negative, or coordinates are NaN,
        infinite or mismatched in B or D.
    """
    xyz = _check_points("xyz", xyz)
    xyz_known = _check_points("xyz_known", xyz_known)
    _check_pair("xyz", xyz, "xyz_known", xyz_known)
    if not torch.is_tensor(feats_known) or feats_known.dim() != 3:
        shape = tuple(feats_known.shape) if torch.is_tensor(feats_known) else type(feats_known)
        raise ValueError(f"feats_known must be a tensor of shape (B, M, C), got {shape}")
    if feats_known.shape[:2] != xyz_known.shape[:2]:
        raise ValueError(
            f"feats_known {tuple(feats_known.shape)} must have one row per known point of "
            f"xyz_known {tuple(xyz_known.shape)}: (B, M, C) with the same B and M (channels last)"
        )
    m = xyz_known.shape[1]
    if m == 0:
        raise ValueError(
            "xyz_known has no points: there is nothing to interpolate from (need M >= 1)"
        )
    k = min(integer("k", k, minimum=1), m)
    p = real("p", p, minimum=0.0)
    return _interpolate(xyz, xyz_known, feats_known, k, p)


def normalize_unit_sphere(xyz):
    """Centre each set at its centroid and scale it into the unit sphere. (B, N, D) -> same.

    Takes a tensor or a NumPy array (returned as the same kind and dtype; integer coordinates
    become floats). Only the farthest point ends on the sphere; a set whose points all
    coincide is centred at 0 and left unscaled.
    """
    if isinstance(xyz, np.ndarray):
        if xyz.ndim != 3:
            raise ValueError(f"xyz must be an array of shape (B, N, D), got {xyz.shape}")
        if not np.issubdtype(xyz.dtype, np.floating):
            xyz = xyz.astype(np.float64)
        finite_array("xyz", xyz, "Remove or repair those points before normalizing.")
        if xyz.shape[1] == 0:
            raise ValueError(f"xyz has no points (shape {xyz.shape}): nothing to normalize")
        c = xyz - xyz.mean(-2, keepdims=True)
        r = np.linalg.norm(c, axis=-1).max(-1)[..., None, None]
        return c / np.maximum(r, 1e-12)
    xyz = _check_points("xyz", xyz, nonempty=True)
    c = xyz - xyz.mean(1, keepdim=True)
    r = c.norm(dim=-1).amax(1, keepdim=True).clamp_min(1e-12)
    return c / r[..., None]


def random_rotate_z(xyz: torch.Tensor, generator=None) -> torch.Tensor:
    """Rotate each set by a random angle about the vertical (z) axis (PointNet's augmentation).

    Shape: (B, N, 3) -> (B, N, 3); extra per-point channels after the first 3 are left alone.
    """
    xyz = _check_points("xyz", xyz, finite=False)
    _check_generator(generator)
    if xyz.shape[-1] < 3:
        raise ValueError(f"random_rotate_z needs 3-D points (B, N, >= 3), got {tuple(xyz.shape)}")
    b = xyz.shape[0]
    theta = torch.rand(b, generator=generator).to(xyz) * 2 * math.pi
    c, s = theta.cos(), theta.sin()
    z, o = torch.zeros_like(c), torch.ones_like(c)
    rot = torch.stack([c, -s, z, s, c, z, z, z, o], -1).reshape(b, 3, 3)
    out = xyz.clone()
    out[..., :3] = xyz[..., :3] @ rot.transpose(1, 2)
    return out


def jitter(
    xyz: torch.Tensor, sigma: float = 0.01, clip: float = 0.05, generator=None
) -> torch.Tensor:
    """Add clipped Gaussian noise to every coordinate (PointNet's jitter augmentation).

    ``sigma``: the noise's standard deviation (>= 0); ``clip``: its largest size (> 0).
    """
    xyz = _check_points("xyz", xyz, finite=False)
    sigma = real("sigma", sigma, minimum=0.0)
    clip = real("clip", clip, positive=True)
    _check_generator(generator)
    noise = torch.randn(xyz.shape, generator=generator).to(xyz) * sigma
    return xyz + noise.clamp(-clip, clip)


def random_input_dropout(
    xyz: torch.Tensor, max_ratio: float = 0.875, generator=None
) -> torch.Tensor:
    """PointNet++'s random input dropout (DP): drop each point with a per-set random ratio.

    For each set a ratio ``theta ~ U[0, max_ratio]`` is drawn and each point is dropped with
    probability ``theta``; a dropped point is replaced by a copy of the set's first point, so the
    tensor keeps its shape and duplicates do not change a max pooling. Trains the network on sets
    of varying density.
    """
    xyz = _check_points("xyz", xyz, finite=False, nonempty=True)
    max_ratio = probability("max_ratio", max_ratio)
    _check_generator(generator)
    b, n, _ = xyz.shape
    theta = torch.rand(b, 1, generator=generator) * max_ratio
    drop = (torch.rand(b, n, generator=generator) < theta).to(xyz.device)
    drop[:, 0] = False
    return torch.where(drop[..., None], xyz[:, :1, :].expand_as(xyz), xyz)


def drop_points(xyz: torch.Tensor, keep: int, generator=None, mode: str = "random") -> torch.Tensor:
    """Keep ``keep`` points of each set: a random subset (``mode="random"``), or the ``keep``
    points nearest to a random point of the set (``"nearest"``: a whole region goes missing).

    Shape: (B, N, D) -> (B, keep, D).
    """
    xyz = _check_points("xyz", xyz, finite=mode != "random", nonempty=True)
    _check_generator(generator)
    b, n, _ = xyz.shape
    keep = integer("keep", keep, minimum=1)
    if keep > n:
        raise ValueError(f"keep must be in 1..N={n}, got {keep}")
    if mode == "random":
        idx = torch.rand(b, n, generator=generator).argsort(-1)[:, :keep]
    elif mode == "nearest":
        seed = torch.randint(0, n, (b, 1), generator=generator).to(xyz.device)
        d = _sqdist(index_points(xyz, seed), xyz)[:, 0]
        idx = d.topk(keep, dim=-1, largest=False).indices.cpu()
    else:
        raise ValueError(f"mode must be 'random' or 'nearest', got {mode!r}")
    return index_points(xyz, idx.sort(-1).values.to(xyz.device))


def add_outliers(xyz: torch.Tensor, count: int, generator=None) -> torch.Tensor:
    """Replace ``count`` random points of each set by points uniform in the cube [-1, 1]^D."""
    xyz = _check_points("xyz", xyz, finite=False)
    _check_generator(generator)
    b, n, d = xyz.shape
    count = integer("count", count, minimum=0)
    if count > n:
        raise ValueError(f"count must be in 0..N={n}, got {count}")
    out = xyz.clone()
    if count == 0:
        return out
    idx = torch.rand(b, n, generator=generator).argsort(-1)[:, :count].to(xyz.device)
    noise = (torch.rand(b, count, d, generator=generator) * 2 - 1).to(xyz)
    out.scatter_(1, idx[..., None].expand(-1, -1, d), noise)
    return out


def drop_fraction(
    xyz: torch.Tensor, fraction: float, generator=None, mode: str = "random"
) -> torch.Tensor:
    """Delete a ``fraction`` (in [0, 1)) of the points of each set, keeping
    ``max(1, round((1 - fraction) * N))`` of them: a random subset (``mode="random"``), the points
    chosen by farthest point sampling from a random start (``"farthest"``, the paper's "furthest"
    curve), or the points nearest to a random point of the set (``"nearest"``: a whole region
    goes missing, as under occlusion).

    Shape: (B, N, D) -> (B, keep, D); the kept points stay in their original order.
    """
    xyz = _check_points("xyz", xyz, finite=mode == "farthest", nonempty=True)
    fraction = probability("fraction", fraction)
    _check_generator(generator)
    if mode not in ("random", "farthest", "nearest"):
        raise ValueError(f"mode must be 'random', 'farthest' or 'nearest', got {mode!r}")
    b, n, _ = xyz.shape
    keep = max(1, int(round((1 - fraction) * n)))
    if mode != "farthest":
        return drop_points(xyz, keep, generator=generator, mode=mode)
    start = int(torch.randint(0, n, (1,), generator=generator))
    idx = _fps(xyz, keep, start)
    return index_points(xyz, idx.sort(-1).values)


def insert_outliers(xyz: torch.Tensor, fraction: float, generator=None) -> torch.Tensor:
    """Add outliers, uniform in the unit ball, so that they make up ``fraction`` (in [0, 1)) of
    each resulting set (the paper's Figure 6, middle: "outliers uniformly scattered in the unit
    sphere"). All the original points stay, first and in order; ``round(fraction * N / (1 -
    fraction))`` outliers follow them.

    Shape: (B, N, D) -> (B, N + outliers, D).
    """
    xyz = _check_points("xyz", xyz, finite=False)
    fraction = probability("fraction", fraction)
    _check_generator(generator)
    b, n, d = xyz.shape
    count = int(round(fraction * n / (1 - fraction)))
    if count == 0:
        return xyz.clone()
    direction = torch.randn(b, count, d, generator=generator, dtype=torch.float64)
    direction = direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    radius = torch.rand(b, count, 1, generator=generator, dtype=torch.float64) ** (1.0 / d)
    outliers = (direction * radius).to(xyz)
    return torch.cat([xyz, outliers], dim=1)


def gaussian_noise(xyz: torch.Tensor, sigma: float, generator=None) -> torch.Tensor:
    """Add independent Gaussian noise of standard deviation ``sigma`` (>= 0) to every coordinate
    of every point, unclipped (the paper's Figure 6, right; :func:`jitter` clips its noise).

    Shape: (B, N, D) -> (B, N, D).
    """
    xyz = _check_points("xyz", xyz, finite=False)
    sigma = real("sigma", sigma, minimum=0.0)
    _check_generator(generator)
    return xyz + torch.randn(xyz.shape, generator=generator).to(xyz) * sigma


def corrupt_coordinate(
    xyz: torch.Tensor, axis: int, mode: str = "zero", generator=None
) -> torch.Tensor:
    """Lose one coordinate (``axis``) of every point: set it to 0 (``mode="zero"``, the value a
    centred shape has on average, as a filled-in missing value would be) or replace it by noise
    uniform in [-1, 1] (``"noise"``, a sensor channel gone bad). The other coordinates stay.

    Shape: (B, N, D) -> (B, N, D).
    """
    xyz = _check_points("xyz", xyz, finite=False)
    axis = integer("axis", axis, minimum=0, maximum=xyz.shape[-1] - 1)
    _check_generator(generator)
    if mode not in ("zero", "noise"):
        raise ValueError(f"mode must be 'zero' or 'noise', got {mode!r}")
    out = xyz.clone()
    if mode == "zero":
        out[..., axis] = 0
    else:
        out[..., axis] = (torch.rand(xyz.shape[:2], generator=generator) * 2 - 1).to(xyz)
    return out


# --------------------------------------------------------------------------- private helpers


def _check_points(name, t, dims=3, *, finite=True, nonempty=False):
    """``t`` as a floating ``(B, N, D)`` tensor, or a ``ValueError`` that says what to do.

    Integer coordinates are accepted and converted to torch's default float dtype (an integer
    tensor would otherwise make the distances integers, or fail deep inside). ``finite``: refuse
    NaN and infinite coordinates. ``nonempty``: refuse a set of zero points.
    """
    if not torch.is_tensor(t) or t.dim() != dims:
        shape = tuple(t.shape) if torch.is_tensor(t) else type(t).__name__
        raise ValueError(
            f"{name} must be a tensor of shape (B, N, D) (D = coordinates), got {shape}; "
            "a single set of shape (N, D) needs a batch dimension: x[None]"
        )
    if t.dtype == torch.bool or t.is_complex():
        raise ValueError(f"{name} must hold real coordinates, got dtype {t.dtype}")
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    if finite:
        finite_array(
            name,
            t,
            "Remove or repair those points first: distances to them are meaningless (farthest "
            "point sampling would keep choosing the same point).",
        )
    if nonempty and t.shape[1] == 0:
        raise ValueError(
            f"{name} has no points (shape {tuple(t.shape)}): each set needs at least one point"
        )
    return t


def _check_pair(a_name, a, b_name, b):
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[2]:
        raise ValueError(
            f"{a_name} {tuple(a.shape)} and {b_name} {tuple(b.shape)} need the same batch size B "
            "and coordinate dimension D (both are (B, ·, D), points last)"
        )


def _check_generator(generator):
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )


def _sqdist(a, b):
    """Exact squared distances ``(B, N, M)``, computed in chunks of rows of ``a``."""
    bsz, n, d = a.shape
    m = b.shape[1]
    rows = _row_chunks(bsz, m, d)
    if rows >= n:
        return ((a[:, :, None, :] - b[:, None, :, :]) ** 2).sum(-1)
    out = torch.empty(bsz, n, m, dtype=torch.promote_types(a.dtype, b.dtype), device=a.device)
    for i in range(0, n, rows):
        out[:, i : i + rows] = ((a[:, i : i + rows, None, :] - b[:, None, :, :]) ** 2).sum(-1)
    return out


def _row_chunks(bsz, n, d):
    """Rows of centroids per chunk so that one chunk's differences stay within the budget."""
    return max(1, CHUNK_ELEMENTS // max(1, bsz * n * d))


def _fps(xyz, m, start=0):
    """:func:`farthest_point_sample` without the checks (for callers that made them)."""
    b, n, _ = xyz.shape
    idx = torch.empty(b, m, dtype=torch.long, device=xyz.device)
    nearest = torch.full((b, n), float("inf"), dtype=xyz.dtype, device=xyz.device)
    rows = torch.arange(b, device=xyz.device)
    current = torch.full((b,), start, dtype=torch.long, device=xyz.device)
    for i in range(m):  # one pass per chosen point; each pass is vectorized over all N points
        idx[:, i] = current
        d = ((xyz - xyz[rows, current][:, None, :]) ** 2).sum(-1)
        nearest = torch.minimum(nearest, d)
        current = nearest.argmax(-1)
    return idx


def _ball_chunk(xyz, centroids, r2, k):
    n = xyz.shape[1]
    d = _sqdist(centroids, xyz)  # (B, c, N)
    ar = torch.arange(n, device=xyz.device).expand_as(d)
    cand = torch.where(d < r2, ar, torch.full_like(ar, n))
    kk = min(k, n)
    found = cand.topk(kk, dim=-1, largest=False, sorted=True).values  # increasing indices
    first = torch.where(found[..., :1] < n, found[..., :1], d.argmin(-1, keepdim=True))
    found = torch.where(found < n, found, first)
    if kk < k:
        found = torch.cat([found, first.expand(*first.shape[:-1], k - kk)], dim=-1)
    return found


def _ball_query(xyz, centroids, radius, k):
    """:func:`ball_query` without the checks (for callers that made them)."""
    b, n, d = xyz.shape
    m = centroids.shape[1]
    rows = _row_chunks(b, n, d)
    if rows >= m:
        return _ball_chunk(xyz, centroids, radius**2, k)
    out = torch.empty(b, m, k, dtype=torch.long, device=xyz.device)
    for i in range(0, m, rows):
        out[:, i : i + rows] = _ball_chunk(xyz, centroids[:, i : i + rows], radius**2, k)
    return out


def _interpolate(xyz, xyz_known, feats_known, k, p):
    """:func:`interpolate` without the checks (``k`` at most M)."""
    d2, idx = _sqdist(xyz, xyz_known).topk(k, dim=-1, largest=False)
    w = 1.0 / (d2.clamp_min(1e-16) ** (p / 2))
    w = w / w.sum(-1, keepdim=True)
    return (index_points(feats_known, idx) * w[..., None]).sum(-2)
