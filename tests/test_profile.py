"""dlparts.profile: layer kinds, the split of a training step, dense equivalents, saved tensors.

No test asserts a timing value: the checks are structural (which kinds get time, that the shares
sum to one, that the hooks are removed) or exact byte counts.
"""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from dlparts import profile
from dlparts.arith import layer_table, table_totals
from dlparts.models import lenet5
from dlparts.models.alexnet import mini_alexnet

SETTINGS = settings(max_examples=20, deadline=None)


def _hooks(model):
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in model.modules()
    )


# ----------------------------------------------------------------------------- layer kinds


@pytest.mark.parametrize(
    "module, kind",
    [
        (nn.Conv1d(2, 3, 3), "conv"),
        (nn.Conv2d(2, 3, 3), "conv"),
        (nn.ConvTranspose2d(2, 3, 3), "conv"),
        (nn.Linear(4, 2), "linear"),
        (nn.MaxPool2d(2), "pooling"),
        (nn.AvgPool2d(2), "pooling"),
        (nn.AdaptiveAvgPool2d(1), "pooling"),
        (nn.ReLU(), "activation"),
        (nn.Tanh(), "activation"),
        (nn.Softmax(dim=1), "activation"),
        (nn.BatchNorm2d(3), "norm"),
        (nn.LayerNorm(3), "norm"),
        (nn.LocalResponseNorm(5), "norm"),
        (nn.Dropout(), "other"),
        (nn.Flatten(), "other"),
        (nn.Identity(), "other"),
    ],
)
def test_layer_kind(module, kind):
    assert profile.layer_kind(module) == kind
    assert kind in profile.KINDS


# ----------------------------------------------------------------------------- time split


def _batch(n=8, c=1, size=12, classes=3):
    return torch.randn(n, c, size, size), torch.randint(0, classes, (n,))


def test_time_split_shares_sum_to_one_and_cover_the_step():
    model = lenet5()
    x, y = torch.randn(4, 1, 32, 32), torch.randint(0, 10, (4,))
    r = profile.time_by_layer_type(model, x, y, steps=2, warmup=1)
    assert r["clock"] == "cpu"  # automatic on the CPU
    assert set(r["share"]) == set(profile.KINDS) | set(profile.STEP_PARTS)
    assert math.isclose(sum(r["share"].values()), 1.0, rel_tol=1e-9)
    assert all(v >= 0 for v in r["seconds"].values())
    assert all(0 <= v <= 1 for v in r["share"].values())
    # LeNet-5 has no normalization layer, so no time can be charged to one
    assert r["seconds"]["norm"] == 0.0
    # one row per leaf layer call, in forward order, each with its kind
    kinds = [row["kind"] for row in r["layers"]]
    assert kinds == [
        *("conv", "activation", "pooling", "conv", "activation", "pooling", "conv", "activation"),
        *("other", "linear", "activation", "linear"),
    ]
    assert r["steps"] == 2 and r["warmup"] == 1
    assert _hooks(model) == 0


def test_conv_only_model_charges_only_conv():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten())
    x, y = _batch()
    loss = lambda out, y: out.square().mean()  # noqa: E731
    r = profile.time_by_layer_type(model, x, y, steps=2, warmup=0, loss_fn=loss, clock="wall")
    rows = r["layers"]
    assert [row["kind"] for row in rows] == ["conv", "other"]
    assert rows[0]["forward_s"] > 0 and rows[0]["backward_s"] > 0
    for kind in ("linear", "pooling", "activation", "norm"):
        assert r["seconds"][kind] == 0.0
    assert r["seconds"]["conv"] > 0


def test_time_split_trains_the_model_and_restores_mode():
    model = nn.Sequential(nn.Flatten(), nn.Linear(144, 3))
    model.eval()
    x, y = _batch()
    before = model[1].weight.detach().clone()
    profile.time_by_layer_type(model, x, y, steps=1, warmup=0)
    assert not torch.equal(before, model[1].weight)
    assert not model.training
    assert _hooks(model) == 0


@pytest.mark.parametrize(
    "kw",
    [{"steps": 0}, {"steps": 1.5}, {"warmup": -1}, {"steps": True}, {"clock": "gpu"}],
)
def test_time_split_bad_arguments(kw):
    model = nn.Sequential(nn.Flatten(), nn.Linear(144, 3))
    x, y = _batch()
    with pytest.raises(ValueError, match="steps|warmup|clock"):
        profile.time_by_layer_type(model, x, y, **kw)


def test_model_without_layers_is_refused():
    class Bare(nn.Module):
        def forward(self, x):
            return x

    x, y = _batch()
    with pytest.raises(ValueError, match="no layers"):
        profile.time_by_layer_type(Bare(), x, y)
    with pytest.raises(ValueError, match="no layers"):
        profile.saved_tensor_bytes(Bare(), x)


def test_time_forward_backward_computes_gradients():
    layer = nn.Linear(5, 2)
    t = profile.time_forward_backward(layer, torch.randn(3, 5), repeats=2, warmup=0)
    assert t > 0
    assert layer.weight.grad is not None
    with pytest.raises(ValueError, match="repeats"):
        profile.time_forward_backward(layer, torch.randn(3, 5), repeats=0)


# ----------------------------------------------------------------------------- dense equivalents


@SETTINGS
@given(
    cin=st.integers(1, 4),
    cout=st.integers(1, 6),
    k=st.integers(1, 5),
    pad=st.integers(0, 2),
    stride=st.integers(1, 2),
    size=st.integers(5, 12),
)
def test_dense_equivalent_matches_macs_and_shape(cin, cout, k, pad, stride, size):
    conv = nn.Conv2d(cin, cout, k, stride=stride, padding=pad)
    out = conv(torch.zeros(1, cin, size, size))
    rows = layer_table(nn.Sequential(conv), (cin, size, size))
    lin, info = profile.dense_equivalent(conv, size, "macs")
    n_in = cin * size * size
    assert lin.in_features == info["in_features"] == n_in
    assert info["conv_macs"] == rows[0]["macs"]
    assert info["output_shape"] == tuple(out.shape[1:])
    # the same multiply-adds to within one output row of in_features
    assert abs(info["dense_macs"] - info["conv_macs"]) <= n_in // 2 + 1 or lin.out_features == 1
    lin2, info2 = profile.dense_equivalent(conv, size, "shape")
    assert lin2.out_features == out[0].numel()
    assert info2["dense_macs"] == n_in * out[0].numel()
    assert info2["dense_params"] == (n_in + 1) * out[0].numel()


def test_dense_equivalent_bad_input():
    with pytest.raises(ValueError, match="nn.Conv2d"):
        profile.dense_equivalent(nn.Linear(3, 3), 8)
    with pytest.raises(ValueError, match="match"):
        profile.dense_equivalent(nn.Conv2d(1, 1, 3), 8, match="params")
    with pytest.raises(ValueError, match="larger than the padded input"):
        profile.dense_equivalent(nn.Conv2d(1, 1, 5), 3)


# ----------------------------------------------------------------------------- saved tensors


def test_single_linear_saves_its_input():
    layer = nn.Linear(7, 3)
    x = torch.randn(5, 7)
    r = profile.saved_tensor_bytes(layer, x)
    assert r["saved_bytes"] == x.numel() * 4  # the input, for the weight gradient
    assert r["parameter_bytes"] == 0  # no input gradient wanted, so the weight is not kept
    assert r["forward_bytes"] == 5 * 3 * 4
    assert r["input_bytes"] == x.numel() * 4
    assert r["ratio"] == pytest.approx(r["saved_bytes"] / r["forward_bytes"])
    # when the input needs a gradient too, the weight is kept (counted apart, as a parameter)
    r2 = profile.saved_tensor_bytes(layer, x.requires_grad_())
    assert r2["saved_bytes"] == x.numel() * 4
    assert r2["parameter_bytes"] == layer.weight.numel() * 4


def test_relu_saves_its_output_and_pool_its_indices():
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    r = profile.saved_tensor_bytes(nn.Sequential(nn.ReLU(), nn.MaxPool2d(2)), x)
    relu, pool = r["layers"]
    assert relu["saved_bytes"] == x.numel() * 4  # ReLU keeps its output
    # max pooling keeps its input (the ReLU output, already counted) and int64 indices
    assert pool["saved_bytes"] == (x.numel() // 4) * 8
    assert relu["output_bytes"] == x.numel() * 4 and pool["output_bytes"] == x.numel()


def test_shared_storage_counts_once():
    # a conv after a ReLU needs the ReLU's output, which the ReLU already saved
    x = torch.randn(2, 1, 6, 6)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3))
    r = profile.saved_tensor_bytes(model, x)
    conv1, relu, conv2 = r["layers"]
    assert conv1["saved_bytes"] == x.numel() * 4
    assert relu["saved_bytes"] == 2 * 2 * 4 * 4 * 4
    assert conv2["saved_bytes"] == 0


def test_forward_bytes_agree_with_the_layer_table():
    model = lenet5()
    n = 3
    x, y = torch.randn(n, 1, 32, 32), torch.randint(0, 10, (n,))
    r = profile.saved_tensor_bytes(model, x, y)
    totals = table_totals(layer_table(model, (1, 32, 32)))
    assert r["forward_bytes"] == n * totals["activation_bytes"]
    assert r["layers"][-1]["name"] == "(outside layers)"  # the loss's log-softmax
    assert r["saved_bytes"] == sum(row["saved_bytes"] for row in r["layers"])
    assert _hooks(model) == 0


def test_dropout_saves_a_mask_only_in_training():
    model = mini_alexnet()
    x = torch.randn(2, 1, 28, 28)
    train = profile.saved_tensor_bytes(model.train(), x)
    evaluation = profile.saved_tensor_bytes(model.eval(), x)
    drop = {r["name"]: r["saved_bytes"] for r in train["layers"]}["classifier.drop6"]
    drop_eval = {r["name"]: r["saved_bytes"] for r in evaluation["layers"]}["classifier.drop6"]
    assert drop > 0 and drop_eval == 0
    assert train["saved_bytes"] > evaluation["saved_bytes"]
