"""CS231n's three-layer convnet in NumPy: shapes, initial loss, gradient check, PyTorch parity."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlparts.scratch.gradcheck import numerical_gradient, rel_error
from dlparts.scratch.net import ThreeLayerConvNet

KEYS = ("W1", "b1", "W2", "b2", "W3", "b3")


def _small(reg=0.0, dtype=np.float64, **kw):
    args = dict(input_dim=(2, 6, 6), num_filters=3, filter_size=3, hidden_dim=7, num_classes=4)
    args.update(kw)
    return ThreeLayerConvNet(**args, weight_scale=1e-1, reg=reg, dtype=dtype, rng=0)


def test_param_shapes_are_cs231n():
    net = ThreeLayerConvNet(rng=0)  # CS231n's defaults: (3, 32, 32), 32 filters of 7x7
    shapes = {k: v.shape for k, v in net.params.items()}
    assert shapes == {
        "W1": (32, 3, 7, 7),
        "b1": (32,),
        "W2": (32 * 16 * 16, 100),
        "b2": (100,),
        "W3": (100, 10),
        "b3": (10,),
    }
    assert all(v.dtype == np.float32 for v in net.params.values())
    assert all(not net.params[k].any() for k in ("b1", "b2", "b3"))
    assert net.params["W1"].std() == pytest.approx(1e-3, rel=0.05)


def test_odd_image_size_floors_the_pool():
    net = ThreeLayerConvNet((1, 7, 9), 2, 3, 5, 3, rng=0)
    assert net.params["W2"].shape == (2 * 3 * 4, 5)
    assert net.loss(np.zeros((2, 1, 7, 9))).shape == (2, 3)


def test_scores_shape_and_dtype():
    net = ThreeLayerConvNet((1, 28, 28), 4, 5, 10, 10, rng=0)
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28))
    scores = net.loss(x)
    assert scores.shape == (3, 10)
    assert scores.dtype == np.float32


def test_initial_loss_is_log_classes():
    rng = np.random.default_rng(0)
    net = ThreeLayerConvNet((1, 12, 12), 4, 5, 20, 10, weight_scale=1e-3, rng=0)
    x = rng.standard_normal((20, 1, 12, 12))
    y = rng.integers(0, 10, 20)
    loss, _ = net.loss(x, y)
    assert loss == pytest.approx(math.log(10), abs=1e-3)
    net.reg = 1.0  # with tiny weights the penalty adds almost nothing
    assert net.loss(x, y)[0] == pytest.approx(math.log(10), abs=1e-2)


def test_rng_none_follows_numpy_global_state():
    np.random.seed(3)
    a = ThreeLayerConvNet((1, 8, 8), 2, 3, 4, 3)
    np.random.seed(3)
    b = ThreeLayerConvNet((1, 8, 8), 2, 3, 4, 3)
    c = ThreeLayerConvNet((1, 8, 8), 2, 3, 4, 3, rng=np.random.default_rng(3))
    d = ThreeLayerConvNet((1, 8, 8), 2, 3, 4, 3, rng=3)
    for k in KEYS:
        np.testing.assert_array_equal(a.params[k], b.params[k])
        np.testing.assert_array_equal(c.params[k], d.params[k])
    assert not np.array_equal(a.params["W1"], c.params["W1"])


@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_gradient_check_all_params(reg):
    rng = np.random.default_rng(1)
    net = _small(reg=reg)
    x = rng.standard_normal((3, 2, 6, 6))
    y = rng.integers(0, 4, 3)
    loss, grads = net.loss(x, y)
    assert set(grads) == set(KEYS)
    for k in KEYS:
        assert grads[k].shape == net.params[k].shape
        num = numerical_gradient(lambda _: net.loss(x, y)[0], net.params[k], h=1e-6)
        assert rel_error(grads[k], num) < 1e-6, k


def test_reg_adds_half_l2():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 2, 6, 6))
    y = np.array([0, 3])
    plain, g0 = _small(reg=0.0).loss(x, y)
    net = _small(reg=0.5)
    with_reg, g1 = net.loss(x, y)
    penalty = 0.5 * 0.5 * sum(np.sum(net.params[k] ** 2) for k in ("W1", "W2", "W3"))
    assert with_reg == pytest.approx(plain + penalty, rel=1e-12)
    np.testing.assert_allclose(g1["W2"], g0["W2"] + 0.5 * net.params["W2"], rtol=1e-12)
    np.testing.assert_array_equal(g1["b2"], g0["b2"])  # biases are not penalized


def _torch_net(net, x, y):
    p = {k: torch.tensor(v, requires_grad=True) for k, v in net.params.items()}
    pad = (net.params["W1"].shape[2] - 1) // 2
    h = F.relu(F.conv2d(torch.tensor(x), p["W1"], p["b1"], stride=1, padding=pad))
    h = F.max_pool2d(h, 2, 2).flatten(1)
    h = F.relu(h @ p["W2"] + p["b2"])
    scores = h @ p["W3"] + p["b3"]
    loss = F.cross_entropy(scores, torch.tensor(y))
    loss = loss + 0.5 * net.reg * sum((p[k] ** 2).sum() for k in ("W1", "W2", "W3"))
    loss.backward()
    return scores.detach().numpy(), loss.item(), {k: v.grad.numpy() for k, v in p.items()}


@pytest.mark.parametrize("reg", [0.0, 0.3])
def test_equals_pytorch_network(reg):
    rng = np.random.default_rng(4)
    net = ThreeLayerConvNet((1, 10, 10), 4, 5, 16, 6, weight_scale=0.2, reg=reg, dtype=np.float64)
    x = rng.standard_normal((5, 1, 10, 10))
    y = rng.integers(0, 6, 5)
    scores_t, loss_t, grads_t = _torch_net(net, x, y)
    np.testing.assert_allclose(net.loss(x), scores_t, rtol=1e-10, atol=1e-12)
    loss, grads = net.loss(x, y)
    assert loss == pytest.approx(loss_t, rel=1e-10)
    for k in KEYS:
        np.testing.assert_allclose(grads[k], grads_t[k], rtol=1e-8, atol=1e-12, err_msg=k)


def test_float32_grads_stay_float32_and_close_to_float64():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 2, 6, 6))
    y = rng.integers(0, 4, 4)
    l32, g32 = _small(dtype=np.float32).loss(x, y)
    l64, g64 = _small(dtype=np.float64).loss(x, y)
    assert all(g.dtype == np.float32 for g in g32.values())
    assert l32 == pytest.approx(l64, rel=1e-5)
    for k in KEYS:
        np.testing.assert_allclose(g32[k], g64[k], rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"filter_size": 4}, "filter_size must be odd"),
        ({"filter_size": 0}, "filter_size must be a positive integer"),
        ({"input_dim": (28, 28)}, r"input_dim must be \(C, H, W\)"),
        ({"input_dim": 28}, r"input_dim must be \(C, H, W\)"),
        (
            {"input_dim": (1, 1, 28)},
            "input_dim\\[1\\] \\(height\\) must be an integer of at least 2",
        ),
        ({"num_filters": 2.0}, "num_filters must be a positive integer"),
        ({"hidden_dim": 0}, "hidden_dim must be a positive integer"),
        ({"num_classes": 1}, "num_classes must be an integer of at least 2"),
        ({"weight_scale": 0.0}, "weight_scale must be a positive number"),
        ({"reg": -1.0}, "reg must be at least 0"),
        ({"dtype": np.int32}, "dtype must be a floating type"),
        ({"rng": "seed"}, "rng must be None"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ThreeLayerConvNet(**kwargs)


def test_bad_inputs_to_loss():
    net = ThreeLayerConvNet((1, 8, 8), 2, 3, 4, 3, rng=0)
    with pytest.raises(ValueError, match=r"\(N, 1, 8, 8\).*got \(2, 3, 8, 8\)"):
        net.loss(np.zeros((2, 3, 8, 8)))
    with pytest.raises(ValueError, match=r"got \(1, 8, 8\)"):
        net.loss(np.zeros((1, 8, 8)))
    with pytest.raises(ValueError, match="labels must lie in 0..2"):
        net.loss(np.zeros((2, 1, 8, 8)), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"y must have shape \(2,\)"):
        net.loss(np.zeros((2, 1, 8, 8)), np.array([0, 1, 2]))
