"""Point-set data made on the spot: procedural 3-D shapes with part labels, and the shipped MNIST
digits as 2-D point sets.

Procedural shapes: each of :data:`SHAPE_CLASSES` is sampled *uniformly on its surface* (each piece
gets points in proportion to its area), stretched by a random factor per axis, rotated about the
vertical axis (or freely), centred and scaled into the unit sphere (as ModelNet40 is), jittered
with Gaussian noise, and its points shuffled. Every point carries the label of the part it was
sampled from (:data:`PART_NAMES`), for segmentation. A seed fixes everything.

MNIST as points (PointNet++'s Table 1): the locations of a digit's ink pixels, jittered inside
their pixel, scaled to [-1, 1].
"""

from __future__ import annotations

import math

import numpy as np

from .._validate import integer, probability, real
from ..points import normalize_unit_sphere

__all__ = [
    "PART_NAMES",
    "SEG_CLASSES",
    "SHAPE_CLASSES",
    "make_shapes",
    "mnist_point_split",
    "mnist_to_points",
    "part_offsets",
    "sample_shape",
    "shapes_split",
]

#: The shape classes, in label order.
SHAPE_CLASSES = (
    "sphere",
    "cube",
    "cylinder",
    "cone",
    "torus",
    "pyramid",
    "octahedron",
    "hemisphere",
    "capsule",
    "prism",
    "bicone",
    "table",
)

#: Each class's parts, in local part order (the label a sampled point carries).
PART_NAMES = {
    "sphere": ("surface",),
    "cube": ("top/bottom", "side"),
    "cylinder": ("cap", "side"),
    "cone": ("base", "side"),
    "torus": ("inner", "outer"),
    "pyramid": ("base", "side"),
    "octahedron": ("upper", "lower"),
    "hemisphere": ("flat", "dome"),
    "capsule": ("end", "body"),
    "prism": ("end", "side"),
    "bicone": ("upper", "lower"),
    "table": ("top", "leg"),
}

#: Classes with parts that need context to tell apart, used for the segmentation examples.
SEG_CLASSES = ("cylinder", "cone", "pyramid", "hemisphere", "capsule", "table")


def part_offsets(classes=SHAPE_CLASSES) -> dict:
    """Global part id of each class's first part: parts are numbered class after class."""
    out, k = {}, 0
    for c in classes:
        out[c] = k
        k += len(PART_NAMES[c])
    return out


# ----------------------------------------------------------------------------- surface pieces
# Each piece is (area, sampler(k, rng) -> (k, 3) points, local part id).


def sample_shape(name, n_points=512, rng=None, rotate="z", stretch=(0.75, 1.25), noise=0.01):
    """One shape as a point set.

    Args:
        name: one of :data:`SHAPE_CLASSES`.
        n_points: points sampled uniformly on the surface.
        rng: a ``numpy.random.Generator`` (or a seed).
        rotate: ``"z"`` (random angle about the vertical axis, ModelNet40's convention),
            ``"so3"`` (any rotation) or None.
        stretch: range of the random scale factor of each axis (before rotation).
        noise: standard deviation of the Gaussian jitter added after normalization.

    Returns:
        ``(points, parts)``: float32 ``(n_points, 3)`` centred and inside the unit sphere (up to
        the noise), and int64 ``(n_points,)`` local part ids (see :data:`PART_NAMES`), shuffled.
    """
    if name not in SHAPE_CLASSES:
        raise ValueError(f"unknown shape {name!r}; choose one of {SHAPE_CLASSES}")
    n_points = integer("n_points", n_points, minimum=1)
    lo, hi = _check_stretch(stretch)
    noise = real("noise", noise, minimum=0.0)
    rng = np.random.default_rng(rng)
    pts, parts = _sample_canonical(name, n_points, rng)
    pts = pts * rng.uniform(lo, hi, size=3)
    pts = pts @ _rotation(rng, rotate).T
    pts = normalize_unit_sphere(pts[None])[0]
    pts = pts + rng.normal(scale=noise, size=pts.shape) if noise else pts
    order = rng.permutation(n_points)
    return pts[order].astype(np.float32), parts[order]


def make_shapes(
    n_per_class, n_points=512, seed=0, classes=None, rotate="z", stretch=(0.75, 1.25), noise=0.01
):
    """A procedural data set: ``n_per_class`` shapes of each class, in a seeded random order.

    Args:
        classes: names to use (default all of :data:`SHAPE_CLASSES`); labels are their positions
            in this tuple.
        seed: fixes every shape; the same arguments give the same tensors.
        rotate, stretch, noise: see :func:`sample_shape`.

    Returns:
        dict with ``x`` float32 ``(N, n_points, 3)``, ``y`` int64 ``(N,)``, ``parts`` int64
        ``(N, n_points)`` global part ids (numbered class after class, see :func:`part_offsets`),
        ``classes`` (the names) and ``part_names`` (the global part names, "class/part").
    """
    import torch

    classes = tuple(classes or SHAPE_CLASSES)
    bad = [c for c in classes if c not in SHAPE_CLASSES]
    if bad:
        raise ValueError(f"unknown classes {bad}; choose from {SHAPE_CLASSES}")
    n_per_class = integer("n_per_class", n_per_class, minimum=1)
    n_points = integer("n_points", n_points, minimum=1)
    _check_stretch(stretch)
    real("noise", noise, minimum=0.0)
    _rotation(np.random.default_rng(0), rotate)  # refuses an unknown rotate before any work
    offsets = part_offsets(classes)
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(classes)), n_per_class)
    labels = labels[rng.permutation(len(labels))]
    xs, ps = [], []
    for lab in labels:
        p, part = sample_shape(classes[lab], n_points, rng, rotate, stretch, noise)
        xs.append(p)
        ps.append(part + offsets[classes[lab]])
    names = [f"{c}/{p}" for c in classes for p in PART_NAMES[c]]
    return {
        "x": torch.from_numpy(np.stack(xs)),
        "y": torch.from_numpy(labels.astype(np.int64)),
        "parts": torch.from_numpy(np.stack(ps)),
        "classes": classes,
        "part_names": names,
    }


def shapes_split(n_train_per_class=100, n_test_per_class=50, n_points=512, seed=0, **kwargs):
    """Train and test sets of procedural shapes, drawn from independent seeded streams.

    Returns a dict with ``x_train``, ``y_train``, ``parts_train``, ``x_test``, ``y_test``,
    ``parts_test``, ``classes`` and ``part_names``; ``kwargs`` go to :func:`make_shapes`.
    """
    n_train_per_class = integer("n_train_per_class", n_train_per_class, minimum=1)
    n_test_per_class = integer("n_test_per_class", n_test_per_class, minimum=1)
    s_train, s_test = np.random.SeedSequence(integer("seed", seed, minimum=0)).spawn(2)
    tr = make_shapes(n_train_per_class, n_points, int(s_train.generate_state(1)[0]), **kwargs)
    te = make_shapes(n_test_per_class, n_points, int(s_test.generate_state(1)[0]), **kwargs)
    out = {f"{k}_train": tr[k] for k in ("x", "y", "parts")}
    out.update({f"{k}_test": te[k] for k in ("x", "y", "parts")})
    out["classes"], out["part_names"] = tr["classes"], tr["part_names"]
    return out


# ----------------------------------------------------------------------------- MNIST as points


def mnist_to_points(images, n_points=256, threshold=0.5, seed=0):
    """Digits as 2-D point sets: the centres of the pixels brighter than ``threshold``, each
    moved uniformly within its pixel, in coordinates ``[-1, 1]`` (x to the right, y up).

    A digit with more ink pixels than ``n_points`` keeps a random subset; one with fewer repeats
    some (duplicates do not change a max pooling). Pixel values are taken in [0, 1] (uint8 images
    are divided by 255).

    Shape: ``images`` (N, 28, 28) or (N, 1, 28, 28), array or tensor -> float32 tensor
    ``(N, n_points, 2)``.
    """
    import torch

    a = images.detach().cpu().numpy() if torch.is_tensor(images) else np.asarray(images)
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 3:
        raise ValueError(f"images must be (N, H, W) or (N, 1, H, W), got shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0 or a.shape[2] == 0:
        raise ValueError(f"images must hold at least one non-empty image, got shape {a.shape}")
    n_points = integer("n_points", n_points, minimum=1)
    threshold = probability("threshold", threshold)
    if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        raise ValueError(f"images must hold real pixel values, got dtype {a.dtype}")
    if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
        raise ValueError("images contain NaN or infinite pixel values; repair them first")
    a = a.astype(np.float32) / (255.0 if a.dtype == np.uint8 or a.max() > 1.0 else 1.0)
    h, w = a.shape[1:]
    rng = np.random.default_rng(seed)
    out = np.empty((len(a), n_points, 2), np.float32)
    for i, img in enumerate(a):
        rows, cols = np.nonzero(img > threshold)
        if len(rows) == 0:
            rows, cols = np.unravel_index([int(img.argmax())], img.shape)
        pick = rng.choice(len(rows), n_points, replace=len(rows) < n_points)
        px = cols[pick] + rng.random(n_points)
        py = rows[pick] + rng.random(n_points)
        out[i, :, 0] = px / w * 2 - 1
        out[i, :, 1] = 1 - py / h * 2
    return torch.from_numpy(out)


def mnist_point_split(n_train=4000, n_test=1000, n_points=256, seed=0, threshold=0.5):
    """The shipped MNIST digits (``mnist_split``, same fixed test set as every chapter) as 2-D
    point sets: ``x_train`` (n_train, n_points, 2), ``y_train``, ``x_test``, ``y_test``, and the
    images ``img_train``/``img_test`` (N, 1, 28, 28) they came from."""
    from .mnist import mnist_split

    n_train = integer("n_train", n_train, minimum=1)
    n_test = integer("n_test", n_test, minimum=1)
    seed = integer("seed", seed, minimum=0)
    d = mnist_split(n_train=n_train, n_val=0, n_test=n_test, seed=seed)
    return {
        "x_train": mnist_to_points(d["x_train"], n_points, threshold, seed),
        "y_train": d["y_train"],
        "x_test": mnist_to_points(d["x_test"], n_points, threshold, seed + 1),
        "y_test": d["y_test"],
        "img_train": d["x_train"],
        "img_test": d["x_test"],
    }


# --------------------------------------------------------------------------- private helpers


def _tri(a, b, c):
    a, b, c = (np.asarray(v, float) for v in (a, b, c))
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a))

    def s(k, rng):
        u, v = rng.random((2, k, 1))
        flip = (u + v) > 1
        u, v = np.where(flip, 1 - u, u), np.where(flip, 1 - v, v)
        return a + u * (b - a) + v * (c - a)

    return area, s


def _quad(o, e1, e2):
    o, e1, e2 = (np.asarray(v, float) for v in (o, e1, e2))
    area = np.linalg.norm(np.cross(e1, e2))

    def s(k, rng):
        u, v = rng.random((2, k, 1))
        return o + u * e1 + v * e2

    return area, s


def _disk(r, z, cx=0.0, cy=0.0):
    def s(k, rng):
        rad, t = r * np.sqrt(rng.random(k)), rng.random(k) * 2 * math.pi
        return np.stack([cx + rad * np.cos(t), cy + rad * np.sin(t), np.full(k, z)], 1)

    return math.pi * r * r, s


def _tube(r, z0, z1, cx=0.0, cy=0.0):
    def s(k, rng):
        t = rng.random(k) * 2 * math.pi
        return np.stack([cx + r * np.cos(t), cy + r * np.sin(t), z0 + rng.random(k) * (z1 - z0)], 1)

    return 2 * math.pi * r * abs(z1 - z0), s


def _cone_side(r, z_base, z_apex):
    h = abs(z_apex - z_base)

    def s(k, rng):
        f = np.sqrt(rng.random(k))  # distance from the apex, area grows linearly with it
        t = rng.random(k) * 2 * math.pi
        return np.stack([r * f * np.cos(t), r * f * np.sin(t), z_apex + f * (z_base - z_apex)], 1)

    return math.pi * r * math.hypot(r, h), s


def _sphere_cap(r, cz, sign):
    """Half a sphere of radius r centred at (0, 0, cz): z >= cz (sign=+1) or z <= cz (sign=-1)."""

    def s(k, rng):
        v = rng.normal(size=(k, 3))
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        v[:, 2] = sign * np.abs(v[:, 2])
        return v * r + np.array([0, 0, cz])

    return 2 * math.pi * r * r, s


def _torus(R, r):
    def s(k, rng):
        out = []
        while sum(len(o) for o in out) < k:
            th, ph = rng.random((2, 3 * k)) * 2 * math.pi
            keep = rng.random(3 * k) < (R + r * np.cos(ph)) / (R + r)  # uniform on the surface
            th, ph = th[keep], ph[keep]
            out.append(
                np.stack(
                    [
                        (R + r * np.cos(ph)) * np.cos(th),
                        (R + r * np.cos(ph)) * np.sin(th),
                        r * np.sin(ph),
                    ],
                    1,
                )
            )
        return np.concatenate(out)[:k]

    return s


def _pieces(name):
    if name == "cube":
        h = 0.5
        P = []
        for ax in range(3):
            for sgn in (-h, h):
                o, e1, e2 = np.zeros(3), np.zeros(3), np.zeros(3)
                o[:] = -h
                o[ax] = sgn
                e1[(ax + 1) % 3], e2[(ax + 2) % 3] = 1, 1
                P.append((*_quad(o, e1, e2), 0 if ax == 2 else 1))
        return P
    if name == "cylinder":
        return [(*_disk(0.5, -0.5), 0), (*_disk(0.5, 0.5), 0), (*_tube(0.5, -0.5, 0.5), 1)]
    if name == "cone":
        return [(*_disk(0.5, -0.5), 0), (*_cone_side(0.5, -0.5, 0.5), 1)]
    if name == "pyramid":
        b = [(-0.5, -0.5, -0.4), (0.5, -0.5, -0.4), (0.5, 0.5, -0.4), (-0.5, 0.5, -0.4)]
        apex = (0, 0, 0.5)
        P = [(*_tri(b[0], b[1], b[2]), 0), (*_tri(b[0], b[2], b[3]), 0)]
        P += [(*_tri(b[i], b[(i + 1) % 4], apex), 1) for i in range(4)]
        return P
    if name == "octahedron":
        ring = [(0.5, 0, 0), (0, 0.5, 0), (-0.5, 0, 0), (0, -0.5, 0)]
        P = []
        for i in range(4):
            P.append((*_tri(ring[i], ring[(i + 1) % 4], (0, 0, 0.6)), 0))
            P.append((*_tri(ring[i], ring[(i + 1) % 4], (0, 0, -0.6)), 1))
        return P
    if name == "hemisphere":
        return [(*_disk(0.6, -0.2), 0), (*_sphere_cap(0.6, -0.2, 1), 1)]
    if name == "capsule":
        r, h = 0.3, 0.4
        return [(*_sphere_cap(r, h, 1), 0), (*_sphere_cap(r, -h, -1), 0), (*_tube(r, -h, h), 1)]
    if name == "prism":
        a, b, c = (-0.5, -0.7, -0.4), (0.5, -0.7, -0.4), (0.0, -0.7, 0.45)
        d = (0, 1.4, 0)
        shift = lambda p: tuple(np.add(p, d))
        P = [(*_tri(a, b, c), 0), (*_tri(shift(a), shift(b), shift(c)), 0)]
        for p, q in ((a, b), (b, c), (c, a)):
            P.append((*_quad(p, np.subtract(q, p), d), 1))
        return P
    if name == "bicone":
        return [(*_cone_side(0.5, 0.0, 0.6), 0), (*_cone_side(0.5, 0.0, -0.6), 1)]
    if name == "table":
        w, d, z = 0.6, 0.4, 0.35
        P = [
            (*_quad((-w, -d, z), (2 * w, 0, 0), (0, 2 * d, 0)), 0),
            (*_quad((-w, -d, z + 0.06), (2 * w, 0, 0), (0, 2 * d, 0)), 0),
        ]
        for sx in (-1, 1):
            for sy in (-1, 1):
                P.append((*_tube(0.05, -0.55, z, sx * (w - 0.08), sy * (d - 0.08)), 1))
        return P
    raise KeyError(name)


def _sample_canonical(name, n, rng):
    if name == "sphere":
        v = rng.normal(size=(n, 3))
        return v / np.linalg.norm(v, axis=1, keepdims=True) * 0.5, np.zeros(n, np.int64)
    if name == "torus":
        p = _torus(0.5, 0.2)(n, rng)
        return p, (np.hypot(p[:, 0], p[:, 1]) >= 0.5).astype(np.int64)
    pieces = _pieces(name)
    areas = np.array([a for a, _, _ in pieces])
    counts = rng.multinomial(n, areas / areas.sum())
    pts = [s(k, rng) for (_, s, _), k in zip(pieces, counts) if k]
    parts = [np.full(k, part, np.int64) for (_, _, part), k in zip(pieces, counts) if k]
    return np.concatenate(pts), np.concatenate(parts)


def _rotation(rng, mode):
    if mode is None or mode == "none":
        return np.eye(3)
    if mode == "z":
        t = rng.random() * 2 * math.pi
        c, s = math.cos(t), math.sin(t)
        return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    if mode == "so3":
        q, r = np.linalg.qr(rng.normal(size=(3, 3)))
        q = q * np.sign(np.diag(r))
        return q if np.linalg.det(q) > 0 else -q
    raise ValueError(f"rotate must be None, 'z' or 'so3', got {mode!r}")


def _check_stretch(stretch):
    if not (isinstance(stretch, tuple | list) and len(stretch) == 2):
        raise ValueError(f"stretch must be a (low, high) pair of factors, got {stretch!r}")
    lo = real("stretch[0]", stretch[0], positive=True)
    hi = real("stretch[1]", stretch[1], positive=True)
    if lo > hi:
        raise ValueError(f"stretch must be (low, high) with low <= high, got {stretch!r}")
    return lo, hi
