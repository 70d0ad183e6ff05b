"""Experiments of chapter 5 on ZFNet (Zeiler and Fergus, 2014): what the first layer learns with
AlexNet's 11×11 filters at stride 4 against ZFNet's 7×7 at stride 2, and occlusion sensitivity.

The networks here are small (:func:`first_layer_net`: one of the two first layers, then two 3×3
convolutions, global average pooling and a linear classifier) and are trained on the shipped
MNIST digits, not on ImageNet. What is measured on their first layer:

- :func:`aliased_energy`: the fraction of each filter's spectral energy above the Nyquist
  frequency of its stride, ``1 / (2 · stride)`` cycles per pixel. A layer that keeps every
  ``stride``-th output cannot represent those frequencies; they fold back as lower ones
  (aliasing), the artefact the ZFNet paper saw in AlexNet's layer-2 features.
- :func:`high_freq_energy`: the fraction above a fixed frequency (the same for both layers).
- :func:`dead_fraction`: the fraction of filters that (almost) never fire on the test images.

:func:`occlusion_map` slides a grey square over an image and records the probability of the
true class at each position (the paper's Sec. 4.2).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import runtime
from .._validate import integer, real
from ..init import init_model
from ..train import evaluate, fit

FIRST_LAYERS = {"alexnet": (11, 4, 5), "zfnet": (7, 2, 3)}
"""kind -> (kernel, stride, padding) of the first convolution."""


def first_layer_net(kind: str, in_channels: int = 1, width: int = 32, num_classes: int = 10):
    """A small network whose first layer is AlexNet's (``kind="alexnet"``: 11×11, stride 4) or
    ZFNet's (``"zfnet"``: 7×7, stride 2), with ``width`` filters, followed by ReLU, a 3×3 max pool
    of stride 2, two 3×3 convolutions (``2·width`` filters, ReLU), global average pooling and a
    linear classifier. He initialization.

    Shape:
        - Input: ``(N, in_channels, H, W)``
        - Output: ``(N, num_classes)`` logits
    """
    if kind not in FIRST_LAYERS:
        raise ValueError(f"kind must be one of {tuple(FIRST_LAYERS)}, got {kind!r}")
    width = integer("width", width, 1)
    k, s, p = FIRST_LAYERS[kind]
    model = nn.Sequential(
        nn.Conv2d(integer("in_channels", in_channels, 1), width, k, stride=s, padding=p),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1),
        nn.Conv2d(width, 2 * width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(2 * width, 2 * width, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2 * width, integer("num_classes", num_classes, 2)),
    )
    return init_model(model, "he")


def train_first_layer_net(
    kind, x, y, *, width=32, epochs=3, batch_size=64, lr=0.05, seed=0, device=None, progress=True
):
    """Train :func:`first_layer_net` on ``(x, y)`` with SGD (momentum 0.9, weight decay 5e-4, as
    AlexNet and ZFNet) and return ``{"model", "init_weight", "loss", "seconds"}``; the first
    layer's weights at initialization are kept to compare with the trained ones."""
    runtime.seed_everything(seed)
    dev = device or runtime.device()
    model = first_layer_net(kind, x.shape[1], width).to(dev)
    init_weight = model[0].weight.detach().cpu().clone()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    hist = fit(
        model,
        (x, y),
        epochs=epochs,
        optimizer=opt,
        batch_size=batch_size,
        device=dev,
        seed=seed,
        progress=progress,
        desc=f"{kind} seed {seed}",
    )
    return {
        "model": model,
        "init_weight": init_weight,
        "loss": np.asarray(hist.loss, dtype=float),
        "seconds": hist.seconds,
    }


def test_error(model, x, y):
    """Error rate of ``model`` on ``(x, y)`` in evaluation mode."""
    return 1.0 - evaluate(model, (x, y), device=next(model.parameters()).device)[1]


def filter_spectra(weight, n_fft: int = 64):
    """Power spectrum of each filter of a convolution weight ``(out, in, k, k)``, summed over
    input channels, on an ``n_fft × n_fft`` grid (zero-padded), and each grid point's
    frequency along both axes in cycles per pixel: ``(power (out, n, n), fy (n, n), fx (n, n))``."""
    w = torch.as_tensor(weight).detach().cpu().double()
    if w.ndim != 4:
        raise ValueError(f"expected a convolution weight (out, in, k, k), got {tuple(w.shape)}")
    n_fft = integer("n_fft", n_fft, max(w.shape[-2:]))
    power = torch.fft.fft2(w, s=(n_fft, n_fft)).abs().pow(2).sum(1).numpy()
    f = np.fft.fftfreq(n_fft)
    fy, fx = np.meshgrid(f, f, indexing="ij")
    return power, fy, fx


def aliased_energy(weight, stride, n_fft: int = 64):
    """Per filter, the fraction of spectral energy above the Nyquist frequency of ``stride``
    (``max(|f_x|, |f_y|) > 1 / (2 · stride)`` cycles per pixel): what a layer that keeps one
    output in ``stride`` cannot represent, and folds back onto lower frequencies."""
    stride = integer("stride", stride, 1)
    return _band_fraction(weight, 1.0 / (2 * stride), n_fft)


def high_freq_energy(weight, cutoff: float = 0.25, n_fft: int = 64):
    """Per filter, the fraction of spectral energy above ``cutoff`` cycles per pixel (in either
    axis): the same frequency for every layer, unlike :func:`aliased_energy`."""
    cutoff = real("cutoff", cutoff, positive=True)
    if cutoff >= 0.5:
        raise ValueError(f"cutoff must be below 0.5 cycles per pixel (Nyquist), got {cutoff}")
    return _band_fraction(weight, cutoff, n_fft)


def dead_fraction(model, x, threshold: float = 0.01, batch_size: int = 500):
    """The fraction of first-layer filters of ``model`` (a :func:`first_layer_net`) whose ReLU
    output is positive at fewer than ``threshold`` of all positions of the images ``x``."""
    threshold = real("threshold", threshold, positive=True)
    conv = model[0]
    dev = conv.weight.device
    fired, total = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            a = conv(x[i : i + batch_size].to(dev)) > 0  # (B, C, h, w)
            fired = fired + a.sum((0, 2, 3)).double().cpu()
            total += a.shape[0] * a.shape[2] * a.shape[3]
    return float(((fired / total) < threshold).double().mean())


def occlusion_map(model, image, label, patch: int = 6, stride: int = 2, value: float | None = None):
    """Slide a ``patch × patch`` square of constant ``value`` (default: the image's mean, the
    paper's "grey square") over ``image`` ``(C, H, W)`` with ``stride`` and return the model's
    probability of class ``label`` with the square at each position, an array
    ``(rows, cols)`` whose entry ``(i, j)`` has the square's top-left corner at
    ``(i · stride, j · stride)``, and the unoccluded probability."""
    image = torch.as_tensor(image)
    if image.ndim != 3:
        raise ValueError(f"image must be (C, H, W), got shape {tuple(image.shape)}")
    patch, stride = integer("patch", patch, 1), integer("stride", stride, 1)
    _, h, w = image.shape
    if patch > min(h, w):
        raise ValueError(f"patch {patch} is larger than the image ({h}×{w}); use a smaller one")
    fill = float(image.mean()) if value is None else real("value", value)
    tops, lefts = range(0, h - patch + 1, stride), range(0, w - patch + 1, stride)
    batch = []
    for t in tops:
        for s in lefts:
            im = image.clone()
            im[:, t : t + patch, s : s + patch] = fill
            batch.append(im)
    dev = next(model.parameters()).device
    was = model.training
    model.eval()
    with torch.no_grad():
        p = F.softmax(model(torch.stack([image] + batch).to(dev)), 1)[:, int(label)].cpu()
    model.train(was)
    return p[1:].reshape(len(tops), len(lefts)).numpy(), float(p[0])


def ink_split(occlusion, image, patch: int, stride: int, ink: float = 0.3):
    """Split an occlusion map's probability drops by where the square was: over ink (the square
    covers a pixel above ``ink``) or over background only. Returns ``(drop over ink, drop over
    background)``, each the mean of ``p_unoccluded − p`` (pass ``occlusion = (map, p0)``)."""
    pmap, p0 = occlusion
    img = torch.as_tensor(image).amax(0)
    on = np.zeros(pmap.shape, dtype=bool)
    for i in range(pmap.shape[0]):
        for j in range(pmap.shape[1]):
            t, s = i * stride, j * stride
            on[i, j] = bool((img[t : t + patch, s : s + patch] > ink).any())
    drop = p0 - pmap
    return float(drop[on].mean()), float(drop[~on].mean()) if (~on).any() else 0.0


# --------------------------------------------------------------------------- private helpers


def _band_fraction(weight, cutoff, n_fft):
    power, fy, fx = filter_spectra(weight, n_fft)
    high = np.maximum(np.abs(fy), np.abs(fx)) > cutoff + 1e-12
    return power[:, high].sum(1) / power.reshape(len(power), -1).sum(1)
