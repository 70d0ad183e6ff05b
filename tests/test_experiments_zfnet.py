"""ZFNet experiments: first-layer networks, filter spectra, dead filters, occlusion maps."""

import numpy as np
import pytest
import torch

from dlparts.experiments import zfnet as zx


@pytest.mark.parametrize("kind,side", [("alexnet", 7), ("zfnet", 14)])
def test_first_layer_net_shapes(kind, side):
    net = zx.first_layer_net(kind, width=4)
    k, s, _ = zx.FIRST_LAYERS[kind]
    assert net[0].kernel_size == (k, k) and net[0].stride == (s, s)
    assert net[0](torch.zeros(2, 1, 28, 28)).shape == (2, 4, side, side)
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match="kind"):
        zx.first_layer_net("vgg")


def test_aliased_energy_of_white_noise_and_of_a_constant():
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(200, 1, 16, 16, generator=g)
    for stride, expected in ((1, 0.0), (2, 0.75), (4, 15 / 16)):
        assert zx.aliased_energy(noise, stride).mean() == pytest.approx(expected, abs=0.03)
    flat = torch.ones(1, 3, 7, 7)
    assert zx.aliased_energy(flat, 4)[0] < zx.aliased_energy(noise[:1], 4)[0]
    assert zx.high_freq_energy(flat)[0] < 0.2
    with pytest.raises(ValueError, match="cutoff"):
        zx.high_freq_energy(flat, cutoff=0.6)
    with pytest.raises(ValueError, match="convolution weight"):
        zx.aliased_energy(torch.ones(7, 7), 2)


def test_high_frequency_filter_is_mostly_aliased():
    checker = torch.tensor([[(-1.0) ** (i + j) for j in range(8)] for i in range(8)])
    w = checker.reshape(1, 1, 8, 8)
    assert zx.high_freq_energy(w)[0] > 0.9
    assert zx.aliased_energy(w, 2)[0] > 0.9


def test_dead_fraction_counts_filters_that_never_fire():
    net = zx.first_layer_net("zfnet", width=4)
    with torch.no_grad():
        net[0].weight.zero_()
        net[0].bias.copy_(torch.tensor([-1.0, -1.0, 1.0, 1.0]))
    assert zx.dead_fraction(net, torch.rand(3, 1, 28, 28)) == pytest.approx(0.5)


def test_occlusion_map_shape_and_unoccluded_probability():
    net = zx.first_layer_net("zfnet", width=4).eval()
    img = torch.zeros(1, 28, 28)
    img[:, 10:18, 12:16] = 1.0
    pmap, p0 = zx.occlusion_map(net, img, 3, patch=7, stride=3)
    assert pmap.shape == (8, 8) and np.all((pmap >= 0) & (pmap <= 1))
    with torch.no_grad():
        assert p0 == pytest.approx(float(torch.softmax(net(img[None]), 1)[0, 3]), rel=1e-5)
    ink, bg = zx.ink_split((pmap, p0), img, 7, 3)
    assert np.isfinite(ink) and np.isfinite(bg)
    # occluding blank background with its own value (0) changes nothing
    pmap0, p00 = zx.occlusion_map(net, img, 3, patch=7, stride=3, value=0.0)
    assert pmap0[0, 0] == pytest.approx(p00, rel=1e-5)
    with pytest.raises(ValueError, match="patch"):
        zx.occlusion_map(net, img, 3, patch=40)
    with pytest.raises(ValueError, match="image"):
        zx.occlusion_map(net, img[0], 3)


def test_training_is_repeatable_and_keeps_the_initial_weights():
    x = torch.rand(32, 1, 28, 28)
    y = torch.randint(0, 10, (32,))
    a = zx.train_first_layer_net("alexnet", x, y, width=4, epochs=1, batch_size=16, progress=False)
    b = zx.train_first_layer_net("alexnet", x, y, width=4, epochs=1, batch_size=16, progress=False)
    assert torch.equal(a["model"][0].weight, b["model"][0].weight)
    assert not torch.equal(a["model"][0].weight.cpu(), a["init_weight"])
    assert len(a["loss"]) == 2 and 0 <= zx.test_error(a["model"], x, y) <= 1
