"""ModelNet40 (Wu et al., 2015) as point sets, from its two common distributions.

Nothing is downloaded. Put one of these folders under :func:`dlparts.data.full_data_dir` (by
default ``~/.cache/dlparts``; ``DLPARTS_DATA_HOME`` overrides it):

- ``modelnet40_normal_resampled/`` (the PointNet++ release, 10,000 points per shape with
  normals): ``modelnet40_shape_names.txt``, ``modelnet40_train.txt``, ``modelnet40_test.txt``
  (one shape id per line, e.g. ``airplane_0001``) and ``<class>/<shape id>.txt`` files of
  ``x,y,z,nx,ny,nz`` lines.
- ``modelnet40_ply_hdf5_2048/`` (the PointNet release, 2,048 points per shape):
  ``ply_data_train0.h5`` ... and ``ply_data_test0.h5`` ... each with ``data`` (B, 2048, 3) and
  ``label`` (B, 1), plus ``shape_names.txt``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._validate import integer
from ..points import normalize_unit_sphere
from .paths import full_data_dir

__all__ = [
    "MODELNET40_CLASSES",
    "MODELNET40_FORMATS",
    "load_modelnet40",
    "load_modelnet40_h5",
    "load_modelnet40_txt",
]

#: The 40 categories in label order (as both distributions number them).
MODELNET40_CLASSES = (
    "airplane", "bathtub", "bed", "bench", "bookshelf", "bottle", "bowl", "car", "chair", "cone",
    "cup", "curtain", "desk", "door", "dresser", "flower_pot", "glass_box", "guitar", "keyboard",
    "lamp", "laptop", "mantel", "monitor", "night_stand", "person", "piano", "plant", "radio",
    "range_hood", "sink", "sofa", "stairs", "stool", "table", "tent", "toilet", "tv_stand", "vase",
    "wardrobe", "xbox",
)  # fmt: skip

#: Folder name of each distribution.
MODELNET40_FORMATS = {"txt": "modelnet40_normal_resampled", "h5": "modelnet40_ply_hdf5_2048"}


def load_modelnet40_txt(
    root, split="train", n_points=1024, normals=False, max_per_class=None, normalize=True
):
    """Read the ``modelnet40_normal_resampled`` layout (see the module docstring).

    Each shape keeps its first ``n_points`` points (the files are already a uniform resampling,
    so the first points are a uniform subset).

    Returns:
        ``(x, y, class_names)``: float32 tensor ``(N, n_points, 3)`` (``(N, n_points, 6)`` with
        ``normals=True``), int64 tensor ``(N,)``, tuple of names.
    """
    import torch

    _check_split(split)
    n_points, max_per_class = _check_sizes(n_points, max_per_class)
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder (expected modelnet40_normal_resampled/)")
    names_file, split_file = root / "modelnet40_shape_names.txt", root / f"modelnet40_{split}.txt"
    for f in (names_file, split_file):
        if not f.is_file():
            raise FileNotFoundError(
                f"{f} is missing: {root} does not look like modelnet40_normal_resampled"
            )
    names = _names(names_file)
    index = {n: i for i, n in enumerate(names)}
    ids = [s.strip() for s in split_file.read_text().splitlines() if s.strip()]
    xs, ys, seen = [], [], {}
    cols = 6 if normals else 3
    for sid in ids:
        cls = sid.rsplit("_", 1)[0]
        if cls not in index:
            raise ValueError(
                f"{split_file}: shape {sid!r} belongs to no class of {names_file.name}"
            )
        if max_per_class is not None and seen.get(cls, 0) >= max_per_class:
            continue
        seen[cls] = seen.get(cls, 0) + 1
        f = root / cls / f"{sid}.txt"
        if not f.is_file():
            raise FileNotFoundError(f"{f} is listed in {split_file.name} but missing")
        a = np.loadtxt(f, delimiter=",", dtype=np.float32, ndmin=2, max_rows=n_points)
        if a.shape[0] < n_points or a.shape[1] < cols:
            raise ValueError(f"{f}: need {n_points} rows of at least {cols} values, got {a.shape}")
        xs.append(a[:n_points, :cols])
        ys.append(index[cls])
    if not xs:
        raise ValueError(f"{split_file} lists no shapes")
    x = np.stack(xs)
    if normalize:
        x = _normalize(x)
    return torch.from_numpy(x), torch.tensor(ys, dtype=torch.long), names


def load_modelnet40_h5(root, split="train", n_points=1024, max_per_class=None, normalize=True):
    """Read the ``modelnet40_ply_hdf5_2048`` layout: every ``ply_data_<split>*.h5`` in ``root``.

    Each shape keeps its first ``n_points`` of 2,048 points.

    Returns ``(x, y, class_names)`` as :func:`load_modelnet40_txt` (names from
    ``shape_names.txt`` when present, else :data:`MODELNET40_CLASSES`).
    """
    import h5py
    import torch

    _check_split(split)
    n_points, max_per_class = _check_sizes(n_points, max_per_class)
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder (expected modelnet40_ply_hdf5_2048/)")
    files = sorted(root.glob(f"ply_data_{split}*.h5"))
    if not files:
        raise FileNotFoundError(f"no ply_data_{split}*.h5 files in {root}")
    xs, ys = [], []
    for f in files:
        with h5py.File(f, "r") as h:
            if "data" not in h or "label" not in h:
                raise ValueError(f"{f}: expected datasets 'data' (B, 2048, 3) and 'label' (B, 1)")
            xs.append(np.asarray(h["data"], dtype=np.float32))
            ys.append(np.asarray(h["label"], dtype=np.int64).reshape(-1))
    x, y = np.concatenate(xs), np.concatenate(ys)
    if x.ndim != 3 or x.shape[2] < 3 or x.shape[1] < n_points:
        raise ValueError(f"{root}: data has shape {x.shape}; need (B, >= {n_points}, 3)")
    x = x[:, :n_points, :3]
    if max_per_class is not None:
        keep = np.zeros(len(y), bool)
        for c in np.unique(y):
            keep[np.flatnonzero(y == c)[:max_per_class]] = True
        x, y = x[keep], y[keep]
    names_file = root / "shape_names.txt"
    names = _names(names_file) if names_file.is_file() else MODELNET40_CLASSES
    if normalize:
        x = _normalize(x)
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y), names


def load_modelnet40(
    split="train", n_points=1024, root=None, fmt="auto", max_per_class=None, normals=False
):
    """ModelNet40 point sets from whichever distribution is present under ``root``.

    Args:
        split: ``"train"`` (9,843 shapes) or ``"test"`` (2,468 shapes).
        n_points: points per shape (the papers use 1,024).
        root: a folder holding ``modelnet40_normal_resampled/`` or ``modelnet40_ply_hdf5_2048/``
            (or one of those folders itself); default :func:`full_data_dir`.
        fmt: ``"txt"``, ``"h5"`` or ``"auto"`` (the text files first, they have normals).
        max_per_class: keep at most this many shapes per class (a quick subset).
        normals: also return normals (text files only): ``(N, n_points, 6)``.

    Returns:
        ``(x, y, class_names)``: float32 ``(N, n_points, 3)``, int64 ``(N,)``, names; every shape
        centred and scaled into the unit sphere.

    Raises:
        FileNotFoundError: when neither distribution is there, saying where to put it.
    """
    if fmt not in ("auto", "txt", "h5"):
        raise ValueError(f"fmt must be 'auto', 'txt' or 'h5', got {fmt!r}")
    _check_split(split)
    _check_sizes(n_points, max_per_class)
    base = Path(root) if root is not None else full_data_dir()
    for f in ("txt", "h5") if fmt == "auto" else (fmt,):
        for folder in (base / MODELNET40_FORMATS[f], base):
            if f == "txt" and (folder / "modelnet40_shape_names.txt").is_file():
                return load_modelnet40_txt(folder, split, n_points, normals, max_per_class)
            if f == "h5" and any(folder.glob("ply_data_*.h5")):
                if normals:
                    raise ValueError("the HDF5 distribution has no normals here; use fmt='txt'")
                return load_modelnet40_h5(folder, split, n_points, max_per_class)
    raise FileNotFoundError(
        f"ModelNet40 was not found under {base}. Nothing is downloaded: put "
        f"'{MODELNET40_FORMATS['txt']}/' (the PointNet++ release, modelnet40_normal_resampled.zip) "
        f"or '{MODELNET40_FORMATS['h5']}/' (the PointNet release, modelnet40_ply_hdf5_2048.zip) "
        f"there, unzipped, or set DLPARTS_DATA_HOME to the folder that holds one of them."
    )


# --------------------------------------------------------------------------- private helpers


def _check_split(split):
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def _normalize(x):
    """Centre and scale the coordinates (the first 3 columns) of each shape; normals stay."""
    x = x.copy()
    x[..., :3] = normalize_unit_sphere(x[..., :3])
    return x


def _check_sizes(n_points, max_per_class):
    n_points = integer("n_points", n_points, minimum=1)
    if max_per_class is not None:
        max_per_class = integer("max_per_class", max_per_class, minimum=1)
    return n_points, max_per_class


def _names(path: Path):
    names = [s.strip() for s in path.read_text().splitlines() if s.strip()]
    if not names:
        raise ValueError(f"{path} lists no class names")
    return tuple(names)
