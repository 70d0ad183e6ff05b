"""AlexNet's input pipeline: rescale, crop, flip, and ten-crop test-time averaging.

Two flavours of each operation:

- on one NumPy image ``(H, W, C)`` (channels last, as photographs are stored):
  :func:`rescale_shorter`, :func:`center_crop`, :func:`random_crop`, :func:`ten_crop`;
- on a batch of tensors ``(N, C, H, W)`` already on the training device, for use inside a
  training loop (``dlparts.train.fit(transform=...)``): :func:`random_crop_flip_batch`,
  :func:`center_crop_batch`, :func:`ten_crop_batch`.

The paper trains on random 224×224 patches of 256×256 images and their mirrors: (256 − 224)² =
1024 offsets (the paper's count; with both ends included it is 33² = 1089) times 2 mirrors = 2048
times as many distinct inputs. At test time it averages the predictions of ten patches: the four
corners, the centre, and their mirrors.
"""

from __future__ import annotations

import numpy as np

from .._validate import image_batch, integer

__all__ = [
    "center_crop",
    "center_crop_batch",
    "random_crop",
    "random_crop_flip_batch",
    "rescale_shorter",
    "ten_crop",
    "ten_crop_batch",
]


def rescale_shorter(image, size=256):
    """Resize ``image`` ``(H, W, C)`` so that its shorter side is ``size`` (bilinear, antialiased).

    Keeps the aspect ratio and the dtype (float images stay float)."""
    import torch
    import torch.nn.functional as F

    a = _check_image(image)
    size = integer("size", size, 1)
    h, w = a.shape[:2]
    if h <= w:
        new = (size, max(1, round(w * size / h)))
    else:
        new = (max(1, round(h * size / w)), size)
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(2, 0, 1)[None]
    out = F.interpolate(t, size=new, mode="bilinear", antialias=True, align_corners=False)
    return out[0].permute(1, 2, 0).numpy().astype(a.dtype, copy=False)


def center_crop(image, size):
    """The central ``size × size`` patch of ``image`` ``(H, W, C)``."""
    a = _check_image(image, size)
    top, left = (a.shape[0] - size) // 2, (a.shape[1] - size) // 2
    return a[top : top + size, left : left + size]


def random_crop(image, size, flip=True, rng=None):
    """A random ``size × size`` patch of ``image`` ``(H, W, C)``, mirrored with probability 1/2
    when ``flip``. ``rng``: a ``numpy.random.Generator`` or a seed."""
    a = _check_image(image, size)
    rng = np.random.default_rng(rng)
    top = int(rng.integers(0, a.shape[0] - size + 1))
    left = int(rng.integers(0, a.shape[1] - size + 1))
    out = a[top : top + size, left : left + size]
    if flip and rng.random() < 0.5:
        out = out[:, ::-1]
    return out


def ten_crop(image, size):
    """The paper's ten test patches of ``image`` ``(H, W, C)``: shape ``(10, size, size, C)``.

    Order: top-left, top-right, bottom-left, bottom-right, centre, then the horizontal mirrors of
    those five in the same order.

    Raises:
        ValueError: if ``image`` is not ``(H, W, C)`` or ``size`` is larger than it.
    """
    a = _check_image(image, size)
    h, w = a.shape[:2]
    corners = [(0, 0), (0, w - size), (h - size, 0), (h - size, w - size)]
    corners.append(((h - size) // 2, (w - size) // 2))
    five = [a[t : t + size, s : s + size] for t, s in corners]
    return np.stack(five + [p[:, ::-1] for p in five])


def center_crop_batch(x, size):
    """Central ``size × size`` patches of a batch ``(N, C, H, W)``."""
    _check_batch(x, size)
    top, left = (x.shape[-2] - size) // 2, (x.shape[-1] - size) // 2
    return x[..., top : top + size, left : left + size]


def random_crop_flip_batch(x, size, flip=True, generator=None):
    """An independent random ``size × size`` patch of each image in ``(N, C, H, W)``, each mirrored
    with probability 1/2 when ``flip``. Runs on ``x``'s device; ``generator`` is a CPU
    ``torch.Generator`` for repeatable draws."""
    import torch

    _check_batch(x, size)
    n, _, h, w = x.shape
    tops = torch.randint(0, h - size + 1, (n,), generator=generator)
    lefts = torch.randint(0, w - size + 1, (n,), generator=generator)
    ar = torch.arange(size)
    rows = (tops[:, None] + ar).to(x.device)  # (N, size)
    cols = (lefts[:, None] + ar).to(x.device)
    if flip:
        mirror = (torch.rand(n, generator=generator) < 0.5).to(x.device)
        cols = torch.where(mirror[:, None], cols.flip(1), cols)
    idx_n = torch.arange(n, device=x.device)[:, None, None]
    out = x.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]]  # (N, size, size, C)
    return out.permute(0, 3, 1, 2).contiguous()


def ten_crop_batch(x, size):
    """The ten test patches of every image in ``(N, C, H, W)``: shape ``(10, N, C, size, size)``,
    in the order of :func:`ten_crop`."""
    import torch

    _check_batch(x, size)
    h, w = x.shape[-2:]
    corners = [(0, 0), (0, w - size), (h - size, 0), (h - size, w - size)]
    corners.append(((h - size) // 2, (w - size) // 2))
    five = [x[..., t : t + size, s : s + size] for t, s in corners]
    return torch.stack(five + [p.flip(-1) for p in five])


# --------------------------------------------------------------------------- private helpers


def _check_image(image, size=None):
    a = np.asarray(image)
    if a.ndim != 3:
        raise ValueError(
            f"image must be one (H, W, C) array (channels last), got shape {a.shape}; for a "
            "batch of tensors (N, C, H, W) use the *_batch functions"
        )
    if size is not None:
        size = integer("size", size, 1)
        if size > a.shape[0] or size > a.shape[1]:
            raise ValueError(
                f"crop size {size} is larger than the image ({a.shape[0]}×{a.shape[1]}); rescale "
                "the image first (rescale_shorter) or choose a smaller crop"
            )
    return a


def _check_batch(x, size):
    image_batch("x", x, "for one (H, W, C) image use the NumPy functions")
    size = integer("size", size, 1)
    if size > x.shape[-2] or size > x.shape[-1]:
        raise ValueError(f"crop size {size} is larger than the images {tuple(x.shape[-2:])}")
