"""The experiments of 02_alexnet/05_augmentation_and_training: training, crop views, fancy PCA."""

import numpy as np
import pytest
import torch

from dlparts.augment import fancy_pca, rgb_pca
from dlparts.experiments.alexnet import (
    CROP_VIEWS,
    crop_accuracies,
    crop_probs,
    fancy_pca_offset_scale,
    per_class_accuracy,
    reading_phrase,
    run_augmentation_study,
    train_mini_alexnet,
)


def _digits(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.pad(torch.rand(n, 1, 28, 28, generator=g), (2, 2, 2, 2))
    y = torch.randint(0, 10, (n,), generator=g)
    return x, y


def test_train_mini_alexnet_runs_the_given_steps_and_repeats_with_a_seed():
    x, y = _digits()
    m1, h1 = train_mini_alexnet(x, y, steps=5, seed=3, batch_size=8)
    m2, h2 = train_mini_alexnet(x, y, steps=5, seed=3, batch_size=8)
    assert len(h1.step) == 5 and not m1.training
    assert h1.loss == h2.loss
    # fc8 starts small, so the first loss is close to ln 10 (uniform outputs)
    assert abs(h1.loss[0] - np.log(10)) < 0.3
    _, h3 = train_mini_alexnet(x, y, steps=5, seed=4, batch_size=8)
    assert h3.loss != h1.loss


def test_train_mini_alexnet_rejects_bad_input():
    x, y = _digits()
    with pytest.raises(ValueError, match="steps"):
        train_mini_alexnet(x, y, steps=0)
    with pytest.raises(ValueError, match="H, W >= 28"):
        train_mini_alexnet(x[..., :20, :20], y, steps=1)


def test_crop_probs_are_ten_softmaxes_in_ten_crop_order():
    x, _ = _digits(7)
    model, _ = train_mini_alexnet(x, torch.zeros(7, dtype=torch.long), steps=1)
    p = crop_probs(model, x, batch_size=3)
    assert p.shape == (10, 7, 10)
    assert torch.allclose(p.sum(-1), torch.ones(10, 7), atol=1e-5)
    # view 9 is the mirror of the centre crop (view 4)
    with torch.no_grad():
        centre = x[..., 2:30, 2:30]
        assert torch.allclose(p[4], model(centre).softmax(1), atol=1e-6)
        assert torch.allclose(p[9], model(centre.flip(-1)).softmax(1), atol=1e-6)


def test_crop_accuracies_average_the_softmax_of_each_view():
    y = torch.tensor([0, 1])
    probs = torch.zeros(10, 2, 3)
    probs[:, :, 2] = 0.4  # every crop slightly prefers class 2 ...
    probs[4, 0, 0] = probs[4, 1, 1] = 0.6  # ... except the centre, which is right
    probs[0:4, 0, 0] = 0.5  # the four corners are right on the first image too
    acc = crop_accuracies(probs, y)
    assert set(acc) == set(CROP_VIEWS)
    assert acc["centre"] == 1.0
    assert acc["mirrored centre"] == 0.0
    assert acc["5 crops"] == 0.5  # image 0: class 0 averages 0.52 > 0.4; image 1: 0.12 < 0.4
    assert acc["10 crops"] == 0.0  # image 0: class 0 averages 0.26 over ten crops


def test_per_class_accuracy():
    y = torch.tensor([0, 0, 1, 2])
    probs = torch.zeros(10, 4, 3)
    probs[4, torch.arange(4), torch.tensor([0, 1, 1, 2])] = 1.0
    out = per_class_accuracy(probs, y, "centre", num_classes=4)
    assert np.allclose(out[:3], [0.5, 1.0, 1.0]) and np.isnan(out[3])


def test_fancy_pca_offset_scale_matches_sampling_and_the_units():
    rng = np.random.default_rng(0)
    img = rng.random((4, 16, 16, 3)) * np.array([1.0, 0.6, 0.3])
    vals, vecs = rgb_pca(img)
    scale = fancy_pca_offset_scale(vals, 0.1)
    offsets = np.stack(
        [(fancy_pca(img[0], vals, vecs, 0.1, rng=s) - img[0])[0, 0] for s in range(4000)]
    )
    rms = float(np.sqrt((offsets**2).sum(1).mean()))
    assert rms == pytest.approx(scale["offset"], rel=0.05)
    byte = fancy_pca_offset_scale(vals, 0.1, pixel_max=255.0)
    assert byte["offset"] == pytest.approx(255 * scale["offset"])
    assert byte["offset sqrt"] == pytest.approx(scale["offset sqrt"])  # unit-free
    with pytest.raises(ValueError):
        fancy_pca_offset_scale([1.0, 2.0])
    with pytest.raises(ValueError):
        fancy_pca_offset_scale(vals, pixel_max=0)


def test_run_augmentation_study_collects_every_setting_and_seed():
    x, y = _digits(24)
    xt, yt = _digits(10, seed=1)
    data = {"x_train": x, "y_train": y, "x_test": xt, "y_test": yt}
    study = run_augmentation_study(
        data, seeds=[0, 1], steps=2, settings=["crops", "non-overlapping"], batch_size=8
    )
    assert set(study.acc) == {"crops", "non-overlapping"}
    assert set(study.acc["crops"]) == set(CROP_VIEWS)
    assert set(study.acc["non-overlapping"]) == {"centre"}  # tested on the centre crop only
    assert set(study.probs) == {"crops"} and study.probs["crops"][0].shape == (10, 10, 10)
    for name in study.acc:
        assert all(len(v) == 2 for v in study.acc[name].values())
        assert len(study.train_acc[name]) == 2 and len(study.models[name]) == 2
    # the centre view of the crop-tested setting agrees with a plain evaluation
    model = study.models["crops"][1]
    assert study.acc["crops"]["centre"][1] == pytest.approx(
        float((model(xt[..., 2:30, 2:30]).argmax(1) == yt).float().mean())
    )
    assert study.errors("crops") == [1 - a for a in study.acc["crops"]["centre"]]


def test_reading_phrase_names_a_direction_only_beyond_the_noise():
    from dlparts import claims

    clear = claims.compare([0.10, 0.11, 0.12], [0.05, 0.06, 0.07], paired=True)
    assert reading_phrase(clear, "the error of b", "than a's") == (
        "the error of b is **lower** than a's (-5.0% ± 0.0%)"
    )
    noisy = claims.compare([0.10, 0.20, 0.15], [0.12, 0.11, 0.16], paired=True)
    text = reading_phrase(noisy, "the error of b", "than a's")
    assert text.startswith("the difference in the error of b is **within noise at this scale**")
