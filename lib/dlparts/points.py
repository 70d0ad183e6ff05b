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

Every function is vectorized over the batch and the points; only farthest point sampling loops,
once per *chosen* point, because each choice depends on the previous ones.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "add_outliers",
    "ball_query",
    "drop_points",
    "farthest_point_sample",
    "index_points",
    "interpolate",
    "jitter",
    "knn",
    "normalize_unit_sphere",
    "random_input_dropout",
    "random_rotate_z",
    "square_distance",
]


def _check_points(name, t, dims=3):
    if not torch.is_tensor(t) or t.dim() != dims:
        shape = tuple(t.shape) if torch.is_tensor(t) else type(t).__name__
        raise ValueError(
            f"{name} must be a tensor of shape (B, N, D) (D = coordinates), got {shape}"
        )


def square_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances between every point of ``a`` and every point of ``b``.

    Shape: ``a`` (B, N, D), ``b`` (B, M, D) -> (B, N, M). Computed as the exact sum of squared
    differences (not the ``|a|² + |b|² - 2ab`` trick), so a point's distance to itself is 0.
    """
    _check_points("a", a)
    _check_points("b", b)
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[2]:
        raise ValueError(f"a {tuple(a.shape)} and b {tuple(b.shape)} need the same B and D")
    return ((a[:, :, None, :] - b[:, None, :, :]) ** 2).sum(-1)


def index_points(points: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Gather points (or per-point features) by index.

    Shape: ``points`` (B, N, C), ``idx`` (B, *S) long -> (B, *S, C). For example centroids
    ``index_points(xyz, fps_idx)`` (B, M, 3) or groups ``index_points(xyz, ball_idx)`` (B, M, k, 3).
    """
    _check_points("points", points)
    if idx.dim() < 2 or idx.shape[0] != points.shape[0]:
        raise ValueError(f"idx must be (B, ...) with B={points.shape[0]}, got {tuple(idx.shape)}")
    b = points.shape[0]
    flat = idx.reshape(b, -1)
    out = torch.gather(points, 1, flat[..., None].expand(-1, -1, points.shape[-1]))
    return out.reshape(*idx.shape, points.shape[-1])


def farthest_point_sample(xyz: torch.Tensor, m: int, start: int = 0) -> torch.Tensor:
    """Farthest point sampling: ``m`` indices per set that cover it evenly.

    The first index is ``start``; each next one is the point whose squared Euclidean distance to
    the points already chosen (to the nearest of them) is largest (ties: the lowest index).

    Shape: ``xyz`` (B, N, D) -> LongTensor (B, m).

    Raises:
        ValueError: if ``m`` is not in ``1..N`` or ``start`` not in ``0..N-1``.
    """
    _check_points("xyz", xyz)
    b, n, _ = xyz.shape
    if not isinstance(m, int) or isinstance(m, bool) or m < 1 or m > n:
        raise ValueError(
            f"m must be an int in 1..N={n} (cannot sample more points than the set has), got {m!r}"
        )
    if not 0 <= start < n:
        raise ValueError(f"start must be an index in 0..{n - 1}, got {start}")
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


def ball_query(xyz: torch.Tensor, centroids: torch.Tensor, radius: float, k: int) -> torch.Tensor:
    """The first ``k`` points (in index order) within ``radius`` of each centroid.

    A point is inside when its squared distance is below ``radius**2``. When fewer than ``k``
    are inside, the list is padded by repeating the first index found (so a group always has
    ``k`` entries and the max pooling over it is unaffected). A centroid with no point inside
    (possible only when it is not itself one of the points) gets its nearest point.

    Shape: ``xyz`` (B, N, D), ``centroids`` (B, M, D) -> LongTensor (B, M, k).

    Raises:
        ValueError: for a radius that is not positive or ``k < 1``.
    """
    _check_points("xyz", xyz)
    _check_points("centroids", centroids)
    if not (isinstance(radius, int | float) and radius > 0 and math.isfinite(radius)):
        raise ValueError(f"radius must be a positive number, got {radius!r}")
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    n = xyz.shape[1]
    d = square_distance(centroids, xyz)  # (B, M, N)
    ar = torch.arange(n, device=xyz.device).expand_as(d)
    cand = torch.where(d < radius**2, ar, torch.full_like(ar, n))
    kk = min(k, n)
    found = cand.topk(kk, dim=-1, largest=False, sorted=True).values  # increasing indices
    first = torch.where(found[..., :1] < n, found[..., :1], d.argmin(-1, keepdim=True))
    found = torch.where(found < n, found, first)
    if kk < k:
        found = torch.cat([found, first.expand(*first.shape[:-1], k - kk)], dim=-1)
    return found


def knn(xyz: torch.Tensor, centroids: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the ``k`` nearest points to each centroid, nearest first.

    Shape: ``xyz`` (B, N, D), ``centroids`` (B, M, D) -> LongTensor (B, M, k).
    """
    _check_points("xyz", xyz)
    if not isinstance(k, int) or not 1 <= k <= xyz.shape[1]:
        raise ValueError(f"k must be an int in 1..N={xyz.shape[1]}, got {k!r}")
    return square_distance(centroids, xyz).topk(k, dim=-1, largest=False).indices


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

    Shape: ``xyz`` (B, N, D), ``xyz_known`` (B, M, D), ``feats_known`` (B, M, C) -> (B, N, C).
    """
    _check_points("xyz_known", xyz_known)
    _check_points("feats_known", feats_known)
    m = xyz_known.shape[1]
    k = min(k, m)
    d2 = square_distance(xyz, xyz_known)
    d2, idx = d2.topk(k, dim=-1, largest=False)
    w = 1.0 / (d2.clamp_min(1e-16) ** (p / 2))
    w = w / w.sum(-1, keepdim=True)
    return (index_points(feats_known, idx) * w[..., None]).sum(-2)


def normalize_unit_sphere(xyz: torch.Tensor) -> torch.Tensor:
    """Centre each set at its centroid and scale it into the unit sphere. (B, N, D) -> same."""
    _check_points("xyz", xyz)
    c = xyz - xyz.mean(1, keepdim=True)
    r = c.norm(dim=-1).amax(1, keepdim=True).clamp_min(1e-12)
    return c / r[..., None]


def random_rotate_z(xyz: torch.Tensor, generator=None) -> torch.Tensor:
    """Rotate each set by a random angle about the vertical (z) axis (PointNet's augmentation).

    Shape: (B, N, 3) -> (B, N, 3); extra per-point channels after the first 3 are left alone.
    """
    _check_points("xyz", xyz)
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
    """Add clipped Gaussian noise to every coordinate (PointNet's jitter augmentation)."""
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
    _check_points("xyz", xyz)
    if not 0 <= max_ratio < 1:
        raise ValueError(f"max_ratio must be in [0, 1), got {max_ratio}")
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
    _check_points("xyz", xyz)
    b, n, _ = xyz.shape
    if not 1 <= keep <= n:
        raise ValueError(f"keep must be in 1..N={n}, got {keep}")
    if mode == "random":
        idx = torch.rand(b, n, generator=generator).argsort(-1)[:, :keep]
    elif mode == "nearest":
        seed = torch.randint(0, n, (b, 1), generator=generator).to(xyz.device)
        d = square_distance(index_points(xyz, seed), xyz)[:, 0]
        idx = d.topk(keep, dim=-1, largest=False).indices.cpu()
    else:
        raise ValueError(f"mode must be 'random' or 'nearest', got {mode!r}")
    return index_points(xyz, idx.sort(-1).values.to(xyz.device))


def add_outliers(xyz: torch.Tensor, count: int, generator=None) -> torch.Tensor:
    """Replace ``count`` random points of each set by points uniform in the cube [-1, 1]^D."""
    _check_points("xyz", xyz)
    b, n, d = xyz.shape
    if not 0 <= count <= n:
        raise ValueError(f"count must be in 0..N={n}, got {count}")
    out = xyz.clone()
    if count == 0:
        return out
    idx = torch.rand(b, n, generator=generator).argsort(-1)[:, :count].to(xyz.device)
    noise = (torch.rand(b, count, d, generator=generator) * 2 - 1).to(xyz)
    out.scatter_(1, idx[..., None].expand(-1, -1, d), noise)
    return out
