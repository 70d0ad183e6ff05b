"""The NumPy affine and ReLU layers against PyTorch (forward and backward) and numerical gradients."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlparts.scratch.gradcheck import numerical_gradient, rel_error
from dlparts.scratch.layers import affine_backward, affine_forward, relu_backward, relu_forward

SETTINGS = settings(max_examples=30, deadline=None)


@SETTINGS
@given(
    n=st.integers(1, 4),
    dims=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    m=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_affine_matches_torch_linear(n, dims, m, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *dims))
    d = int(np.prod(dims))
    w = rng.standard_normal((d, m))
    b = rng.standard_normal(m)
    out, cache = affine_forward(x, w, b)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = affine_backward(dout, cache)

    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w.T.copy(), requires_grad=True)  # nn.Linear stores (M, D)
    bt = torch.tensor(b, requires_grad=True)
    yt = torch.nn.functional.linear(xt.reshape(n, -1), wt, bt)
    yt.backward(torch.tensor(dout))
    assert out.shape == (n, m)
    assert dx.shape == x.shape
    np.testing.assert_allclose(out, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dw, wt.grad.numpy().T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(db, bt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_affine_numerical_gradients():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 2, 3, 2))
    w = rng.standard_normal((12, 4))
    b = rng.standard_normal(4)
    out, cache = affine_forward(x, w, b)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = affine_backward(dout, cache)
    assert rel_error(dx, numerical_gradient(lambda v: affine_forward(v, w, b)[0], x, dout)) < 1e-6
    assert rel_error(dw, numerical_gradient(lambda v: affine_forward(x, v, b)[0], w, dout)) < 1e-6
    assert rel_error(db, numerical_gradient(lambda v: affine_forward(x, w, v)[0], b, dout)) < 1e-6


def test_relu_matches_torch_and_numerical():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 5))
    x[np.abs(x) < 1e-3] = 0.5  # keep central differences away from the kink
    out, cache = relu_forward(x)
    dout = rng.standard_normal(x.shape)
    dx = relu_backward(dout, cache)
    xt = torch.tensor(x, requires_grad=True)
    torch.relu(xt).backward(torch.tensor(dout))
    np.testing.assert_array_equal(out, torch.relu(torch.tensor(x)).numpy())
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=0)
    assert rel_error(dx, numerical_gradient(lambda v: relu_forward(v)[0], x, dout)) < 1e-6


def test_relu_gradient_at_zero_is_zero():
    x = np.array([[-1.0, 0.0, 2.0]])
    dx = relu_backward(np.ones_like(x), relu_forward(x)[1])
    np.testing.assert_array_equal(dx, [[0.0, 0.0, 1.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes_are_kept(dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 2)).astype(dtype)
    w = rng.standard_normal((6, 4)).astype(dtype)
    b = np.zeros(4, dtype=dtype)
    out, cache = affine_forward(x, w, b)
    dx, dw, db = affine_backward(np.ones_like(out), cache)
    assert out.dtype == dx.dtype == dw.dtype == db.dtype == dtype
    r, rc = relu_forward(x)
    assert r.dtype == relu_backward(np.ones_like(r), rc).dtype == dtype


def test_integer_input_is_computed_in_float():
    out, _ = affine_forward(np.ones((2, 3), dtype=np.int64), np.ones((3, 1)), np.zeros(1))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[3.0], [3.0]])


def test_affine_bad_shapes_say_what_was_expected():
    x = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match=r"flattens to D = 12.*\(12, M\)"):
        affine_forward(x, np.zeros((10, 5)), np.zeros(5))
    with pytest.raises(ValueError, match=r"b must have shape \(5,\).*got \(4,\)"):
        affine_forward(x, np.zeros((12, 5)), np.zeros(4))
    with pytest.raises(ValueError, match="w must be a \\(D, M\\) matrix"):
        affine_forward(x, np.zeros(12), np.zeros(5))
    with pytest.raises(ValueError, match="sample axis"):
        affine_forward(np.float64(1.0), np.zeros((1, 1)), np.zeros(1))
    _, cache = affine_forward(x, np.zeros((12, 5)), np.zeros(5))
    with pytest.raises(ValueError, match=r"\(N, M\) = \(2, 5\), got \(2, 4\)"):
        affine_backward(np.zeros((2, 4)), cache)


def test_relu_backward_bad_shape():
    _, cache = relu_forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"shape \(2, 3\), got \(3, 2\)"):
        relu_backward(np.zeros((3, 2)), cache)
