"""Layer and group normalization from scratch against PyTorch, numerical gradients, shapes and
bad inputs; and the family's one import (dlparts.scratch.norm)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from dlparts.scratch import batchnorm, lrn, norm
from dlparts.scratch.gradcheck import numerical_gradient, rel_error
from dlparts.scratch.norm import (
    groupnorm_backward,
    groupnorm_forward,
    layernorm_backward,
    layernorm_forward,
)

TOL = {np.float32: 1e-4, np.float64: 1e-11}


def torch_grads(fn, x, gamma, beta, dout):
    xt, gt, bt = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    out = fn(xt, gt, bt)
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), xt.grad.numpy(), gt.grad.numpy(), bt.grad.numpy()


def close(a, b, dtype):
    tol = TOL[dtype]
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("shape", [(5, 7), (3, 4, 5, 6), (2, 3, 8)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layernorm_matches_pytorch_forward_and_backward(shape, dtype):
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, shape).astype(dtype)
    gamma = rng.normal(1.0, 0.3, shape[1:]).astype(dtype)
    beta = rng.normal(0.0, 0.3, shape[1:]).astype(dtype)
    dout = rng.normal(size=shape).astype(dtype)
    out, cache = layernorm_forward(x, gamma, beta)
    dx, dg, db = layernorm_backward(dout, cache)
    ref = torch_grads(lambda a, g, b: F.layer_norm(a, shape[1:], g, b), x, gamma, beta, dout)
    for ours, theirs in zip((out, dx, dg, db), ref):
        assert ours.dtype == dtype and ours.shape == theirs.shape
        close(ours, theirs, dtype)
    # each example is normalized by itself: mean beta, and (gamma = 1) unit variance
    axes = tuple(range(1, len(shape)))
    ones, zeros = np.ones(shape[1:], dtype), np.zeros(shape[1:], dtype)
    plain, _ = layernorm_forward(x, ones, zeros)
    np.testing.assert_allclose(plain.mean(axis=axes), 0, atol=1e-5)
    np.testing.assert_allclose(plain.var(axis=axes), 1, atol=1e-3)


@pytest.mark.parametrize(
    "shape, groups", [((3, 6, 4, 5), 3), ((2, 8, 3, 3), 1), ((2, 4, 3, 3), 4), ((4, 6), 2)]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("param_shape", ["flat", "broadcast"])
def test_groupnorm_matches_pytorch_forward_and_backward(shape, groups, dtype, param_shape):
    rng = np.random.default_rng(1)
    c = shape[1]
    x = rng.normal(-1.0, 2.0, shape).astype(dtype)
    gamma = rng.normal(1.0, 0.3, c).astype(dtype)
    beta = rng.normal(0.0, 0.3, c).astype(dtype)
    dout = rng.normal(size=shape).astype(dtype)
    bshape = (1, c) + (1,) * (len(shape) - 2)
    g_in, b_in = (
        (gamma, beta) if param_shape == "flat" else (gamma.reshape(bshape), beta.reshape(bshape))
    )
    out, cache = groupnorm_forward(x, g_in, b_in, groups)
    dx, dg, db = groupnorm_backward(dout, cache)
    ref = torch_grads(lambda a, g, b: F.group_norm(a, groups, g, b), x, gamma, beta, dout)
    assert dg.shape == g_in.shape and db.shape == b_in.shape  # gradients in the shape given
    close(out, ref[0], dtype)
    close(dx, ref[1], dtype)
    close(dg.reshape(-1), ref[2], dtype)
    close(db.reshape(-1), ref[3], dtype)
    assert out.dtype == dx.dtype == dtype


def test_groupnorm_one_group_is_layernorm_and_c_groups_is_instance_norm():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 4, 5, 5))
    c = x.shape[1]
    one, _ = groupnorm_forward(x, np.ones(c), np.zeros(c), groups=1)
    ln, _ = layernorm_forward(x, np.ones(x.shape[1:]), np.zeros(x.shape[1:]))
    np.testing.assert_allclose(one, ln, atol=1e-12)
    inst, _ = groupnorm_forward(x, np.ones(c), np.zeros(c), groups=c)
    np.testing.assert_allclose(inst, F.instance_norm(torch.tensor(x)).numpy(), atol=1e-10)


def test_numerical_gradients():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 6, 3, 3))
    dout = rng.normal(size=x.shape)
    g, b = rng.normal(size=6), rng.normal(size=6)
    _, cache = groupnorm_forward(x, g, b, 3)
    dx, dg, db = groupnorm_backward(dout, cache)
    assert (
        rel_error(
            dx, numerical_gradient(lambda v: groupnorm_forward(v, g, b, 3)[0], x.copy(), dout)
        )
        < 1e-6
    )
    assert (
        rel_error(
            dg, numerical_gradient(lambda v: groupnorm_forward(x, v, b, 3)[0], g.copy(), dout)
        )
        < 1e-6
    )
    assert (
        rel_error(
            db, numerical_gradient(lambda v: groupnorm_forward(x, g, v, 3)[0], b.copy(), dout)
        )
        < 1e-6
    )
    y = rng.normal(size=(4, 5))
    dy = rng.normal(size=y.shape)
    gl, bl = rng.normal(size=5), rng.normal(size=5)
    _, cache = layernorm_forward(y, gl, bl)
    dyx, dgl, _ = layernorm_backward(dy, cache)
    assert (
        rel_error(dyx, numerical_gradient(lambda v: layernorm_forward(v, gl, bl)[0], y.copy(), dy))
        < 1e-6
    )
    assert (
        rel_error(dgl, numerical_gradient(lambda v: layernorm_forward(y, v, bl)[0], gl.copy(), dy))
        < 1e-6
    )


def test_an_example_does_not_depend_on_the_rest_of_its_batch():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(4, 6, 3, 3))
    other = x.copy()
    other[1:] = rng.normal(5.0, 3.0, size=(3, 6, 3, 3))
    g, b = np.ones(6), np.zeros(6)
    for f in (
        lambda v: groupnorm_forward(v, g, b, 2)[0],
        lambda v: layernorm_forward(v, np.ones(v.shape[1:]), np.zeros(v.shape[1:]))[0],
    ):
        np.testing.assert_allclose(f(x)[0], f(other)[0], atol=1e-12)
    # batch norm's output for example 0 does change
    bn = lambda v: batchnorm.batchnorm_forward(v, g, b, None, None)[0]  # noqa: E731
    assert np.abs(bn(x)[0] - bn(other)[0]).max() > 0.1


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 3),
    groups=st.integers(1, 4),
    per_group=st.integers(1, 3),
    h=st.integers(1, 4),
    w=st.integers(1, 4),
)
def test_groupnorm_any_shape(n, groups, per_group, h, w):
    c = groups * per_group
    if per_group * h * w < 2:
        with pytest.raises(ValueError, match="at least two values per group"):
            groupnorm_forward(np.ones((n, c, h, w)), np.ones(c), np.zeros(c), groups)
        return
    rng = np.random.default_rng(n * 1000 + c * 10 + h + w)
    x = rng.normal(size=(n, c, h, w))
    gamma, beta = rng.normal(size=c), rng.normal(size=c)
    dout = rng.normal(size=x.shape)
    out, cache = groupnorm_forward(x, gamma, beta, groups)
    dx, dg, db = groupnorm_backward(dout, cache)
    ref = torch_grads(lambda a, g, b: F.group_norm(a, groups, g, b), x, gamma, beta, dout)
    for ours, theirs in zip((out, dx, dg, db), ref):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=2, max_size=4))
def test_layernorm_any_shape(shape):
    shape = tuple(shape)
    feat = shape[1:]
    if int(np.prod(feat)) < 2:
        with pytest.raises(ValueError, match="at least two values per example"):
            layernorm_forward(np.ones(shape), np.ones(feat), np.zeros(feat))
        return
    rng = np.random.default_rng(sum(shape))
    x = rng.normal(size=shape)
    gamma, beta = rng.normal(size=feat), rng.normal(size=feat)
    dout = rng.normal(size=shape)
    out, cache = layernorm_forward(x, gamma, beta)
    dx, dg, db = layernorm_backward(dout, cache)
    ref = torch_grads(lambda a, g, b: F.layer_norm(a, feat, g, b), x, gamma, beta, dout)
    for ours, theirs in zip((out, dx, dg, db), ref):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)


def test_bad_inputs_say_what_to_do():
    x = np.ones((2, 6, 3, 3))
    with pytest.raises(ValueError, match=r"groups must divide .* C=6.*\[1, 2, 3, 6\]"):
        groupnorm_forward(x, np.ones(6), np.zeros(6), groups=4)
    with pytest.raises(ValueError, match="groups must be a positive integer"):
        groupnorm_forward(x, np.ones(6), np.zeros(6), groups=0)
    with pytest.raises(ValueError, match="groups must be a positive integer"):
        groupnorm_forward(x, np.ones(6), np.zeros(6), groups=2.0)
    with pytest.raises(ValueError, match=r"gamma must have shape \(6,\) or \(1, 6, 1, 1\)"):
        groupnorm_forward(x, np.ones(5), np.zeros(6), groups=2)
    with pytest.raises(ValueError, match="beta must have shape"):
        groupnorm_forward(x, np.ones(6), np.zeros((6, 1)), groups=2)
    with pytest.raises(ValueError, match="eps must be a positive number"):
        groupnorm_forward(x, np.ones(6), np.zeros(6), groups=2, eps=0.0)
    with pytest.raises(ValueError, match="expects x of shape"):
        groupnorm_forward(np.ones(6), np.ones(6), np.zeros(6), groups=2)
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        groupnorm_forward(bad, np.ones(6), np.zeros(6), groups=2)
    with pytest.raises(ValueError, match=r"gamma must have shape \(6, 3, 3\)"):
        layernorm_forward(x, np.ones(6), np.zeros((6, 3, 3)))
    with pytest.raises(ValueError, match="eps must be a positive number"):
        layernorm_forward(x, np.ones((6, 3, 3)), np.zeros((6, 3, 3)), eps=-1.0)
    with pytest.raises(ValueError, match="add a batch dimension"):
        layernorm_forward(np.ones(4), np.ones(4), np.zeros(4))
    _, cache = layernorm_forward(x, np.ones((6, 3, 3)), np.zeros((6, 3, 3)))
    with pytest.raises(ValueError, match="dout must have the forward input's shape"):
        layernorm_backward(np.ones((2, 6)), cache)
    _, cache = groupnorm_forward(x, np.ones(6), np.zeros(6), 2)
    with pytest.raises(ValueError, match="dout must have the forward input's shape"):
        groupnorm_backward(np.ones((2, 6)), cache)


def test_norm_is_the_familys_one_import():
    assert norm.batchnorm_forward is batchnorm.batchnorm_forward
    assert norm.batchnorm_backward is batchnorm.batchnorm_backward
    assert norm.lrn_forward is lrn.lrn_forward and norm.lrn_backward is lrn.lrn_backward
    assert {"layernorm_forward", "groupnorm_backward"} <= set(norm.__all__)
