"""The experiments of 02_alexnet/05_augmentation_and_training: training, crop views, fancy PCA."""

import numpy as np
import pytest
import torch

from dlparts.augment import fancy_pca, rgb_pca
from dlparts.experiments.alexnet import (
    CROP_VIEWS,
    PCA_SETTINGS,
    channel_pca,
    colourfulness,
    crop_accuracies,
    crop_probs,
    dropout_subnetworks,
    fancy_pca_batch,
    fancy_pca_offset_scale,
    per_class_accuracy,
    reading_phrase,
    run_augmentation_study,
    tower_colourfulness,
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


def test_colourfulness_scores_grey_colour_and_random_filters():
    g = torch.Generator().manual_seed(0)
    grey = torch.randn(4, 1, 5, 5, generator=g).repeat(1, 3, 1, 1)  # same in every channel
    opponent = torch.randn(4, 1, 5, 5, generator=g) * torch.tensor([1.0, -1.0, 0.0])[:, None, None]
    random = torch.randn(2000, 3, 5, 5, generator=g)
    assert np.allclose(colourfulness(grey), 0.0, atol=1e-12)
    assert np.allclose(colourfulness(opponent), 1.0)  # R = -G, B = 0: the grey part is zero
    assert colourfulness(random).mean() == pytest.approx(2 / 3, abs=0.01)  # (C - 1) / C
    # scale-free, and a grey offset lowers it
    assert np.allclose(colourfulness(3 * random[:5]), colourfulness(random[:5]))
    assert (colourfulness(random[:5] + 2.0) < colourfulness(random[:5])).all()
    two = torch.randn(3, 2, 3, 3, generator=g)
    w = two.double()
    expected = ((w - w.mean(1, keepdim=True)) ** 2).sum((1, 2, 3)) / (w**2).sum((1, 2, 3))
    assert np.allclose(colourfulness(two), expected.numpy())


def test_colourfulness_rejects_grey_and_zero_filters():
    with pytest.raises(ValueError, match="no colour"):
        colourfulness(torch.randn(4, 1, 5, 5))
    with pytest.raises(ValueError, match="channels"):
        colourfulness(torch.randn(4, 3, 5))
    w = torch.randn(2, 3, 3, 3)
    w[1] = 0
    with pytest.raises(ValueError, match="all-zero"):
        colourfulness(w)


def test_tower_colourfulness_splits_conv1_by_tower():
    g = torch.Generator().manual_seed(1)
    w = torch.cat([torch.randn(4, 1, 3, 3, generator=g).repeat(1, 3, 1, 1),
                   torch.randn(4, 3, 3, 3, generator=g)])  # fmt: skip
    a, b = tower_colourfulness(w)
    assert len(a) == len(b) == 4 and np.allclose(a, 0) and (b > 0.1).all()
    with pytest.raises(ValueError, match="equal towers"):
        tower_colourfulness(torch.randn(5, 3, 3, 3))


def test_channel_pca_matches_rgb_pca_and_gives_the_variance_for_grey():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(6, 3, 8, 8, generator=g) * torch.tensor([1.0, 0.5, 0.2])[:, None, None]
    vals, vecs = channel_pca(x)
    ref_vals, ref_vecs = rgb_pca(x.permute(0, 2, 3, 1).numpy().astype(np.float64))
    assert np.allclose(vals.numpy(), ref_vals, rtol=1e-4)
    assert np.allclose(np.abs(vecs.numpy()), np.abs(ref_vecs), atol=1e-4)  # up to sign
    grey = torch.rand(5, 1, 6, 6, generator=g)
    v, p = channel_pca(grey)
    assert v.shape == (1,) and float(v[0]) == pytest.approx(float(grey.var()), rel=1e-4)
    assert p.abs().item() == pytest.approx(1.0)
    with pytest.raises(ValueError):
        channel_pca(torch.rand(3, 8, 8))


def test_fancy_pca_batch_adds_one_offset_per_image_of_the_right_size():
    g = torch.Generator().manual_seed(3)
    x = torch.zeros(4000, 3, 2, 2)
    vals = torch.tensor([0.04, 0.01, 0.0025])
    vecs = torch.eye(3)
    out = fancy_pca_batch(x, vals, vecs, alpha_std=0.1, generator=g)
    assert torch.equal(out[:, :, :1, :1].expand_as(out), out)  # the same offset at every pixel
    sd = out[:, :, 0, 0].std(0)
    assert torch.allclose(sd, 0.1 * vals, rtol=0.05)  # the paper: alpha * lambda
    out_sqrt = fancy_pca_batch(x, vals, vecs, alpha_std=0.1, sqrt=True, generator=g)
    assert torch.allclose(out_sqrt[:, :, 0, 0].std(0), 0.1 * vals.sqrt(), rtol=0.05)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(fancy_pca_batch(x[:3], vals, vecs, generator=g1),
                       fancy_pca_batch(x[:3], vals, vecs, generator=g2))  # fmt: skip
    with pytest.raises(ValueError, match="eigvals"):
        fancy_pca_batch(torch.zeros(2, 1, 4, 4), vals, vecs)


def test_train_mini_alexnet_on_colour_images_with_two_towers_and_fancy_pca():
    g = torch.Generator().manual_seed(4)
    x, y = torch.rand(24, 3, 32, 32, generator=g), torch.randint(0, 10, (24,), generator=g)
    vals, vecs = channel_pca(x)
    pca = dict(eigvals=vals, eigvecs=vecs, alpha_std=0.1)
    m, h = train_mini_alexnet(x, y, steps=3, batch_size=8, groups=2, pca=pca)
    assert m.features.conv1.in_channels == 3 and m.features.conv2.groups == 2
    assert len(h.step) == 3
    _, h_plain = train_mini_alexnet(x, y, steps=3, batch_size=8, groups=2)
    assert h.loss != h_plain.loss  # the offsets changed the batches


def test_run_augmentation_study_runs_the_fancy_pca_settings():
    x, y = _digits(24)
    data = {"x_train": x, "y_train": y, "x_test": x[:8], "y_test": y[:8]}
    names = list(PCA_SETTINGS)
    study = run_augmentation_study(data, seeds=[0], steps=2, settings=names, batch_size=8)
    assert set(study.acc) == set(names)
    with pytest.raises(ValueError, match="unknown settings"):
        run_augmentation_study(data, seeds=[0], steps=2, settings=["colour jitter"])


def test_dropout_subnetworks_geometric_mean_is_the_scaled_network():
    g = torch.Generator().manual_seed(6)
    w, b, x = (
        torch.randn(4, 8, generator=g),
        torch.randn(4, generator=g),
        torch.randn(8, generator=g),
    )
    out = dropout_subnetworks(w, b, x, p=0.5)
    assert out["masks"] == 256
    assert torch.allclose(out["geometric"], out["scaled"], atol=1e-12)
    assert float(out["arithmetic"].sum()) == pytest.approx(1.0)
    assert not torch.allclose(out["arithmetic"], out["scaled"], atol=1e-3)
    out3 = dropout_subnetworks(w, b, x, p=0.3)
    assert torch.allclose(out3["geometric"], out3["scaled"], atol=1e-12)
    with pytest.raises(ValueError, match="2\\*\\*n"):
        dropout_subnetworks(torch.randn(2, 20), torch.randn(2), torch.randn(20))
    with pytest.raises(ValueError, match="p must"):
        dropout_subnetworks(w, b, x, p=1.0)
