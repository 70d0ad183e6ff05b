"""He and Xavier initialization from scratch against torch.nn.init, fans, and activation scales."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlparts import init


@pytest.mark.parametrize("shape", [(256, 128), (64, 32, 3, 3), (16, 8, 5)])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_he_normal_matches_kaiming_normal_statistically(shape, mode):
    ours = torch.empty(shape)
    theirs = torch.empty(shape)
    init.he_normal_(ours, mode=mode, generator=torch.Generator().manual_seed(0))
    torch.nn.init.kaiming_normal_(
        theirs, mode=mode, nonlinearity="relu", generator=torch.Generator().manual_seed(1)
    )
    n = ours.numel()
    fan_in, fan_out = init.fans(ours)
    target = 2.0 / (fan_in if mode == "fan_in" else fan_out)
    # the sample variance of n normals has relative std sqrt(2 / n); allow 5 of them
    tol = 5 * math.sqrt(2 / n)
    assert abs(ours.var().item() / target - 1) < tol
    assert abs(theirs.var().item() / target - 1) < tol
    assert abs(ours.mean().item()) < 5 * math.sqrt(target / n)


def test_he_normal_same_generator_same_numbers_as_torch():
    a, b = torch.empty(50, 40), torch.empty(50, 40)
    init.he_normal_(a, generator=torch.Generator().manual_seed(3))
    torch.nn.init.kaiming_normal_(b, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(a, b)


def test_uniform_variants_have_the_right_bounds():
    w = torch.empty(300, 200)
    init.he_uniform_(w, generator=torch.Generator().manual_seed(0))
    bound = math.sqrt(6 / 200)
    assert w.abs().max() <= bound and w.abs().max() > 0.95 * bound
    init.xavier_uniform_(w, generator=torch.Generator().manual_seed(0))
    assert w.abs().max() <= math.sqrt(6 / 500)


def test_xavier_normal_variance():
    w = torch.empty(400, 100)
    init.xavier_normal_(w, generator=torch.Generator().manual_seed(0))
    assert abs(w.var().item() / (2 / 500) - 1) < 0.03


@pytest.mark.parametrize("nl", ["relu", "tanh", "linear", "sigmoid"])
def test_gain_matches_torch(nl):
    assert init.calculate_gain(nl) == pytest.approx(torch.nn.init.calculate_gain(nl))
    a = 0.2
    assert init.calculate_gain("leaky_relu", a) == pytest.approx(
        torch.nn.init.calculate_gain("leaky_relu", a)
    )


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=2, max_size=5))
def test_fans_match_torch(shape):
    w = torch.empty(shape)
    assert init.fans(w) == torch.nn.init._calculate_fan_in_and_fan_out(w)


def test_bad_inputs():
    with pytest.raises(ValueError, match="2 dimensions"):
        init.fans(torch.empty(5))
    with pytest.raises(ValueError, match="fan_in"):
        init.he_normal_(torch.empty(3, 3), mode="fan")
    with pytest.raises(ValueError, match="nonlinearity"):
        init.calculate_gain("gelu")
    with pytest.raises(ValueError, match="scheme"):
        init.init_model(torch.nn.Linear(2, 2), scheme="orthogonal")


def test_he_keeps_relu_scale_xavier_shrinks_it():
    he = init.activation_scales(depth=30, width=256, scheme="he", n=500)
    xav = init.activation_scales(depth=30, width=256, scheme="xavier", n=500)
    assert 0.3 < he[-1] / he[0] < 3
    # Xavier halves the second moment at every ReLU layer: about 2**-14.5 in std after 29 more
    assert xav[-1] / xav[0] < 1e-3


def test_init_model_sets_weights():
    m = torch.nn.Sequential(torch.nn.Conv2d(8, 64, 3), torch.nn.BatchNorm2d(64))
    init.init_model(m, "he", generator=torch.Generator().manual_seed(0))
    assert abs(m[0].weight.var().item() / (2 / 72) - 1) < 0.1
    assert torch.count_nonzero(m[0].bias) == 0
    assert torch.all(m[1].weight == 1)


def test_gain_compounds_with_depth():
    base = init.activation_scales(depth=20, width=128, n=300, gain=1.0)
    up = init.activation_scales(depth=20, width=128, n=300, gain=1.1)
    # every ReLU layer multiplies the scale by the gain: 1.1 ** 19 ≈ 6.1 between layer 1 and 20
    assert 4 < (up[-1] / up[0]) / (base[-1] / base[0]) < 9
    with pytest.raises(ValueError, match="positive integer"):
        init.activation_scales(depth=0)


def test_init_widgets_build():
    import matplotlib

    matplotlib.use("Agg")
    from dlparts.widgets.init import init_explorer, init_gain_figure

    fig = init_gain_figure(gains=(0.9, 1.0), depth=5, width=16, n=20)
    assert len(fig.axes[0].lines) == 2
    assert init_explorer(depth=5, width=16, n=20) is not None
    with pytest.raises(ValueError, match="gains"):
        init_gain_figure(gains=())
