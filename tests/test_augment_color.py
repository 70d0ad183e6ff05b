"""AlexNet's augmentations: fancy PCA, crops, flips and ten-crop."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlparts.augment import (
    center_crop,
    center_crop_batch,
    fancy_pca,
    mean_pixel,
    random_crop,
    random_crop_flip_batch,
    rescale_shorter,
    rgb_pca,
    subtract_mean_pixel,
    ten_crop,
    ten_crop_batch,
)


def test_rgb_pca_is_an_eigendecomposition_of_the_covariance():
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(3, 3))
    img = (rng.normal(size=(2, 8, 9, 3)) @ mix).astype(np.float32)
    vals, vecs = rgb_pca(img)
    cov = np.cov(img.reshape(-1, 3).astype(np.float64), rowvar=False)
    assert np.allclose(cov @ vecs, vecs * vals, atol=1e-8)
    assert np.allclose(vecs.T @ vecs, np.eye(3), atol=1e-10)
    assert np.all(np.diff(vals) <= 0)


def test_fancy_pca_adds_one_offset_along_the_components():
    rng = np.random.default_rng(1)
    img = rng.random((6, 5, 3))
    vals, vecs = rgb_pca(img)
    out = fancy_pca(img, vals, vecs, alpha_std=0.1, rng=7)
    diff = (out - img).reshape(-1, 3)
    assert np.allclose(diff, diff[0])  # the same offset for every pixel
    alpha = np.random.default_rng(7).normal(0, 0.1, size=3)
    assert np.allclose(diff[0], vecs @ (alpha * vals))
    assert np.array_equal(fancy_pca(img, vals, vecs, alpha_std=0.0), img)


def test_fancy_pca_keeps_dtype_and_draws_anew_each_call():
    img = np.random.default_rng(2).random((4, 4, 3)).astype(np.float32)
    vals, vecs = rgb_pca(img)
    rng = np.random.default_rng(0)
    a, b = fancy_pca(img, vals, vecs, rng=rng), fancy_pca(img, vals, vecs, rng=rng)
    assert a.dtype == np.float32 and not np.allclose(a, b)


def test_mean_pixel():
    img = np.zeros((2, 2, 3), dtype=np.float32) + np.array([0.1, 0.2, 0.3], dtype=np.float32)
    assert np.allclose(mean_pixel(img), [0.1, 0.2, 0.3])
    assert np.allclose(subtract_mean_pixel(img, mean_pixel(img)), 0)


@settings(max_examples=30, deadline=None)
@given(h=st.integers(3, 12), w=st.integers(3, 12), c=st.integers(1, 3), data=st.data())
def test_ten_crop_properties(h, w, c, data):
    size = data.draw(st.integers(1, min(h, w)))
    img = np.arange(h * w * c, dtype=np.float64).reshape(h, w, c)
    crops = ten_crop(img, size)
    assert crops.shape == (10, size, size, c)
    assert np.array_equal(crops[0], img[:size, :size])
    assert np.array_equal(crops[3], img[h - size :, w - size :])
    assert np.array_equal(crops[4], center_crop(img, size))
    assert np.array_equal(crops[5:], crops[:5, :, ::-1])
    batch = torch.tensor(img).permute(2, 0, 1)[None]
    tb = ten_crop_batch(batch, size)
    assert tb.shape == (10, 1, c, size, size)
    assert np.array_equal(tb[:, 0].permute(0, 2, 3, 1).numpy(), crops)


def test_random_crop_flip_batch_picks_patches_of_each_image():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6)
    out = random_crop_flip_batch(x, 4, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 1, 4, 4)
    for i in range(2):
        patches = [x[i, :, t : t + 4, s : s + 4] for t in range(3) for s in range(3)]
        patches += [p.flip(-1) for p in patches]
        assert any(torch.equal(out[i], p) for p in patches)
    assert torch.equal(center_crop_batch(x, 4), x[..., 1:5, 1:5])
    no_flip = random_crop_flip_batch(x, 6, flip=False)
    assert torch.equal(no_flip, x)


def test_random_crop_and_rescale():
    img = np.random.default_rng(3).random((40, 60, 3)).astype(np.float32)
    assert random_crop(img, 32, rng=0).shape == (32, 32, 3)
    r = rescale_shorter(img, 20)
    assert r.shape == (20, 30, 3) and r.dtype == np.float32
    assert rescale_shorter(np.ones((60, 40, 3)), 20).shape == (30, 20, 3)


@pytest.mark.parametrize(
    "call",
    [
        lambda: rgb_pca(np.ones((4, 4))),
        lambda: rgb_pca(np.ones((4, 4, 3), dtype=np.uint8)),
        lambda: fancy_pca(np.ones((4, 4, 3)), np.ones(2), np.eye(3)),
        lambda: ten_crop(np.ones((4, 4, 3)), 5),
        lambda: ten_crop(np.ones((2, 4, 4, 3)), 2),
        lambda: ten_crop(np.ones((4, 4, 3)), 0),
        lambda: ten_crop_batch(torch.ones(1, 4, 4), 2),
        lambda: random_crop_flip_batch(torch.ones(1, 1, 4, 4), 5),
        lambda: subtract_mean_pixel(np.ones((4, 4, 3)), np.ones(4)),
    ],
)
def test_bad_inputs(call):
    with pytest.raises(ValueError):
        call()
