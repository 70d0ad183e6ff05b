"""Batch normalization from scratch against PyTorch, numerical gradients, shapes and bad inputs."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from dlparts.scratch.gradcheck import numerical_gradient, rel_error
from dlparts.scratch.norm import batchnorm_backward, batchnorm_forward

TOL = {np.float32: 1e-5, np.float64: 1e-12}


def make(shape, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = rng.normal(1.5, 2.0, shape).astype(dtype)
    gamma = rng.normal(1.0, 0.5, c).astype(dtype)
    beta = rng.normal(0.0, 0.5, c).astype(dtype)
    rm = rng.normal(0.0, 1.0, c).astype(dtype)
    rv = rng.uniform(0.5, 2.0, c).astype(dtype)
    return x, gamma, beta, rm, rv


def torch_bn(x, gamma, beta, rm, rv, training, momentum=0.1, eps=1e-5):
    trm, trv = torch.tensor(rm), torch.tensor(rv)
    xt = torch.tensor(x, requires_grad=True)
    gt = torch.tensor(gamma, requires_grad=True)
    bt = torch.tensor(beta, requires_grad=True)
    out = F.batch_norm(xt, trm, trv, gt, bt, training=training, momentum=momentum, eps=eps)
    return out, xt, gt, bt, trm, trv


@pytest.mark.parametrize("shape", [(16, 7), (4, 3, 5, 6)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("training", [True, False])
def test_forward_backward_match_pytorch(shape, dtype, training):
    x, gamma, beta, rm, rv = make(shape, dtype)
    out, cache = batchnorm_forward(x, gamma, beta, rm, rv, momentum=0.2, training=training)
    tout, xt, gt, bt, trm, trv = torch_bn(x, gamma, beta, *make(shape, dtype)[3:], training, 0.2)
    assert out.dtype == dtype and out.shape == x.shape
    tol = TOL[dtype]
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=tol * 10, atol=tol * 10)
    np.testing.assert_allclose(rm, trm.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(rv, trv.numpy(), rtol=tol, atol=tol)
    dout = np.random.default_rng(1).normal(size=shape).astype(dtype)
    tout.backward(torch.tensor(dout))
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=tol * 100, atol=tol * 100)
    np.testing.assert_allclose(dgamma, gt.grad.numpy(), rtol=tol * 100, atol=tol * 100)
    np.testing.assert_allclose(dbeta, bt.grad.numpy(), rtol=tol * 100, atol=tol * 100)


def test_running_update_uses_unbiased_variance_and_eval_changes_nothing():
    x = np.array([[0.0], [2.0], [4.0], [6.0]])  # mean 3, biased var 5, unbiased var 20/3
    rm, rv = np.zeros(1), np.ones(1)
    out, _ = batchnorm_forward(x, np.ones(1), np.zeros(1), rm, rv, momentum=0.1)
    np.testing.assert_allclose(rm, [0.1 * 3.0])
    np.testing.assert_allclose(rv, [0.1 * 20.0 / 3.0 + 0.9 * 1.0])
    np.testing.assert_allclose(out[:, 0], (x[:, 0] - 3.0) / np.sqrt(5.0 + 1e-5))  # biased
    before = rm.copy(), rv.copy()
    out_eval, _ = batchnorm_forward(x, np.ones(1), np.zeros(1), rm, rv, training=False)
    np.testing.assert_array_equal(rm, before[0])
    np.testing.assert_array_equal(rv, before[1])
    np.testing.assert_allclose(out_eval[:, 0], (x[:, 0] - rm[0]) / np.sqrt(rv[0] + 1e-5))


def test_running_stats_converge_to_population_statistics():
    rng = np.random.default_rng(0)
    rm, rv = np.zeros(2), np.ones(2)
    for _ in range(300):
        x = rng.normal([5.0, -1.0], [3.0, 0.5], size=(32, 2))
        batchnorm_forward(x, np.ones(2), np.zeros(2), rm, rv, momentum=0.1)
    np.testing.assert_allclose(rm, [5.0, -1.0], atol=0.5)
    np.testing.assert_allclose(rv, [9.0, 0.25], rtol=0.3)


def test_gamma_sqrt_var_beta_mean_is_the_identity():
    x, *_ = make((2, 3, 4, 4), seed=3)
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    eps = 1e-5
    out, _ = batchnorm_forward(x, np.sqrt(var + eps), mean, np.zeros(3), np.ones(3), eps=eps)
    np.testing.assert_allclose(out, x, atol=1e-12)


@pytest.mark.parametrize("shape", [(5, 3), (2, 2, 3, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_numerical_gradients(shape, training):
    x, gamma, beta, rm, rv = make(shape, seed=4)
    dout = np.random.default_rng(5).normal(size=shape)

    def f_x(x_):
        return batchnorm_forward(x_, gamma, beta, rm.copy(), rv.copy(), training=training)[0]

    def f_g(g_):
        return batchnorm_forward(x, g_, beta, rm.copy(), rv.copy(), training=training)[0]

    def f_b(b_):
        return batchnorm_forward(x, gamma, b_, rm.copy(), rv.copy(), training=training)[0]

    _, cache = batchnorm_forward(x, gamma, beta, rm.copy(), rv.copy(), training=training)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    assert rel_error(dx, numerical_gradient(f_x, x.copy(), dout)) < 1e-6
    assert rel_error(dgamma, numerical_gradient(f_g, gamma.copy(), dout)) < 1e-6
    assert rel_error(dbeta, numerical_gradient(f_b, beta.copy(), dout)) < 1e-6


def test_training_gradient_sums_to_zero_per_channel():
    # the output does not change when a constant is added to a channel, so dx sums to zero
    x, gamma, beta, rm, rv = make((6, 4, 3, 3), seed=6)
    _, cache = batchnorm_forward(x, gamma, beta, rm, rv)
    dx, _, _ = batchnorm_backward(np.random.default_rng(7).normal(size=x.shape), cache)
    np.testing.assert_allclose(dx.sum(axis=(0, 2, 3)), 0.0, atol=1e-10)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 6),
    c=st.integers(1, 5),
    hw=st.one_of(st.none(), st.tuples(st.integers(1, 4), st.integers(1, 4))),
    momentum=st.floats(0.0, 1.0),
    training=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_shapes_match_pytorch(n, c, hw, momentum, training, seed):
    shape = (n, c) if hw is None else (n, c, *hw)
    x, gamma, beta, rm, rv = make(shape, seed=seed)
    m = x.size // c
    if training and m == 1:
        with pytest.raises(ValueError, match="more than one value"):
            batchnorm_forward(x, gamma, beta, rm, rv, momentum=momentum)
        with pytest.raises(ValueError):  # PyTorch refuses too
            F.batch_norm(torch.tensor(x), None, None, training=True)
        return
    out, cache = batchnorm_forward(x, gamma, beta, rm, rv, momentum=momentum, training=training)
    rm0, rv0 = make(shape, seed=seed)[3:]
    tout, xt, gt, bt, trm, trv = torch_bn(x, gamma, beta, rm0, rv0, training, momentum)
    np.testing.assert_allclose(out, tout.detach().numpy(), atol=1e-9)
    np.testing.assert_allclose(rm, trm.numpy(), atol=1e-12)
    np.testing.assert_allclose(rv, trv.numpy(), atol=1e-12)
    dout = np.ones(shape) + x  # something not constant
    tout.backward(torch.tensor(dout))
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    np.testing.assert_allclose(dx, xt.grad.numpy(), atol=1e-7)
    np.testing.assert_allclose(dgamma, gt.grad.numpy(), atol=1e-8)
    np.testing.assert_allclose(dbeta, bt.grad.numpy(), atol=1e-8)


@settings(max_examples=30, deadline=None)
@given(ndim=st.sampled_from([1, 3, 5]), seed=st.integers(0, 100))
def test_wrong_rank_is_a_value_error_naming_the_shape(ndim, seed):
    x = np.random.default_rng(seed).normal(size=(2,) * ndim)
    with pytest.raises(ValueError, match=r"\(N, D\) or \(N, C, H, W\)"):
        batchnorm_forward(x, np.ones(2), np.zeros(2), np.zeros(2), np.ones(2))


@settings(max_examples=30, deadline=None)
@given(c=st.integers(1, 5), wrong=st.integers(0, 7), which=st.integers(0, 3))
def test_wrong_parameter_length_is_a_value_error(c, wrong, which):
    if wrong == c:
        wrong = c + 1
    x = np.random.default_rng(0).normal(size=(4, c, 2, 2))
    args = [np.ones(c), np.zeros(c), np.zeros(c), np.ones(c)]
    args[which] = np.ones(wrong)
    with pytest.raises(ValueError, match=rf"must have shape \(C,\) = \({c},\)"):
        batchnorm_forward(x, *args)


def test_single_value_per_channel_explains_why():
    with pytest.raises(ValueError, match="variance"):
        batchnorm_forward(np.ones((1, 3)), np.ones(3), np.zeros(3), np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="variance"):
        x = np.ones((1, 3, 1, 1))
        batchnorm_forward(x, np.ones(3), np.zeros(3), np.zeros(3), np.ones(3))
    # a batch of one image still has H * W values per channel, and evaluation mode needs none
    batchnorm_forward(np.ones((1, 3, 2, 2)), np.ones(3), np.zeros(3), np.zeros(3), np.ones(3))
    out, _ = batchnorm_forward(
        np.ones((1, 3)), np.ones(3), np.zeros(3), np.zeros(3), np.ones(3), training=False
    )
    assert np.all(np.isfinite(out))


def test_other_bad_inputs():
    x = np.ones((4, 2))
    with pytest.raises(ValueError, match="momentum"):
        batchnorm_forward(x, np.ones(2), np.zeros(2), np.zeros(2), np.ones(2), momentum=1.5)
    with pytest.raises(ValueError, match="eps"):
        batchnorm_forward(x, np.ones(2), np.zeros(2), np.zeros(2), np.ones(2), eps=0.0)
    with pytest.raises(ValueError, match="running_mean and running_var"):
        batchnorm_forward(x, np.ones(2), np.zeros(2), None, None, training=False)
    with pytest.raises(ValueError, match="writable NumPy array"):
        batchnorm_forward(x, np.ones(2), np.zeros(2), [0.0, 0.0], np.ones(2))
    _, cache = batchnorm_forward(x + np.arange(4)[:, None], np.ones(2), np.zeros(2), None, None)
    with pytest.raises(ValueError, match="shape"):
        batchnorm_backward(np.ones((3, 2)), cache)


def test_recorder_leaves_running_stats_alone():
    from dlparts.experiments.batchnorm import sigmoid_inputs
    from dlparts.models import sigmoid_mlp

    torch.manual_seed(0)
    net = sigmoid_mlp(bn=True)
    x = torch.rand(7, 1, 28, 28)
    before = {k: v.clone() for k, v in net.named_buffers()}
    inputs = sigmoid_inputs(net, x)
    assert [tuple(a.shape) for a in inputs] == [(7, 100)] * 3
    # batch statistics: every unit's input over the batch has mean beta = 0 and variance ~1
    torch.testing.assert_close(inputs[0].mean(0), torch.zeros(100), atol=1e-5, rtol=0)
    assert all(torch.equal(v, dict(net.named_buffers())[k]) for k, v in before.items())
    assert net.training
