"""Dropout from scratch: the mask, the 1/(1-p) scale, the expectation, the errors."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlparts.models import mlp
from dlparts.regularize import mc_dropout_probs
from dlparts.scratch.dropout import (
    drop_prob_from_keep_prob,
    dropout_backward,
    dropout_forward,
    dropout_forward_original,
)
from dlparts.scratch.gradcheck import numerical_gradient, rel_error


def test_scale_and_mask():
    x = np.ones((200, 50))
    out, mask = dropout_forward(x, 0.3, rng=0)
    kept = out != 0
    np.testing.assert_allclose(out[kept], 1 / 0.7)
    np.testing.assert_array_equal(kept, mask != 0)
    assert abs(kept.mean() - 0.7) < 0.01  # 10,000 draws: sd of the mean about 0.005


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_expectation_preserved(p):
    x = np.random.default_rng(1).random((100, 100))
    outs = [dropout_forward(x, p, rng=s)[0] for s in range(200)]
    np.testing.assert_allclose(np.mean(outs, 0).mean(), x.mean(), rtol=0.01)
    # the original form: unscaled while training, times (1 - p) at test: same expectation
    orig = np.mean([dropout_forward_original(x, p, rng=s)[0] for s in range(200)], 0)
    test = dropout_forward_original(x, p, training=False)[0]
    np.testing.assert_allclose(orig.mean(), test.mean(), rtol=0.01)


def test_identity_at_test_time_and_p_zero():
    x = np.arange(12.0).reshape(3, 4)
    for out, mask in (dropout_forward(x, 0.5, training=False), dropout_forward(x, 0.0)):
        assert out is x and mask is None
    assert dropout_backward(x, None) is x


def test_backward_matches_numerical_gradient():
    x = np.random.default_rng(0).standard_normal((4, 6))
    dout = np.random.default_rng(1).standard_normal((4, 6))
    _, mask = dropout_forward(x, 0.4, rng=7)
    dx = dropout_backward(dout, mask)
    num = numerical_gradient(lambda z: dropout_forward(z, 0.4, rng=7)[0], x.copy(), dout)
    assert rel_error(dx, num) < 1e-8


def test_same_rng_same_mask_and_dtype_kept():
    x = np.ones((5, 5), np.float32)
    a, ma = dropout_forward(x, 0.5, rng=3)
    b, _ = dropout_forward(x, 0.5, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and ma.dtype == np.float32


def test_torch_convention_matches():
    # torch's p is the probability of dropping, as ours; the paper's is of keeping
    torch.manual_seed(0)
    out = torch.nn.Dropout(p=0.2).train()(torch.ones(100_000))
    assert abs((out != 0).float().mean().item() - 0.8) < 0.01
    assert out.max().item() == pytest.approx(1 / 0.8)
    assert drop_prob_from_keep_prob(0.8) == pytest.approx(0.2)


@settings(max_examples=30, deadline=None)
@given(p=st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=1.0), st.just(float("nan"))))
def test_p_outside_range_is_value_error(p):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        dropout_forward(np.ones(3), p)
    with pytest.raises(ValueError):
        dropout_forward(np.ones(3), p, training=False)


@settings(max_examples=25, deadline=None)
@given(
    shape=st.lists(st.integers(1, 6), min_size=1, max_size=4),
    p=st.floats(0.0, 0.95),
    seed=st.integers(0, 1000),
)
def test_any_shape(shape, p, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    out, mask = dropout_forward(x, p, rng=seed)
    assert out.shape == x.shape
    if mask is not None:
        assert set(np.unique(mask)) <= {0.0, 1 / (1 - p)}
        np.testing.assert_allclose(out, x * mask)
        np.testing.assert_allclose(dropout_backward(np.ones(shape), mask), mask)


def test_bad_mask_shape():
    _, mask = dropout_forward(np.ones((3, 4)), 0.5, rng=0)
    with pytest.raises(ValueError, match="mask"):
        dropout_backward(np.ones((4, 3)), mask)


def test_mc_dropout_probs_samples_masks_and_restores_mode():
    torch.manual_seed(0)
    net = mlp(hidden=(32,), p_hidden=0.5, in_features=8, num_classes=3).eval()
    probs = mc_dropout_probs(net, torch.randn(10, 8), n_samples=5)
    assert probs.shape == (5, 10, 3)
    np.testing.assert_allclose(probs.sum(-1).numpy(), 1, atol=1e-6)
    assert not torch.allclose(probs[0], probs[1])  # different masks
    assert not net.training and not any(m.training for m in net.modules())


def test_mc_dropout_probs_repeats_by_seed_and_leaves_the_global_generator_alone():
    torch.manual_seed(0)
    net = mlp(hidden=(32,), p_hidden=0.5, in_features=8, num_classes=3)
    x = torch.randn(6, 8)
    state = torch.get_rng_state()
    a = mc_dropout_probs(net, x, n_samples=3, seed=1)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, mc_dropout_probs(net, x, n_samples=3, seed=1))
    assert not torch.equal(a, mc_dropout_probs(net, x, n_samples=3, seed=2))
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        mc_dropout_probs(net, x, n_samples=0)
