"""Local response normalization from scratch against torch.nn.LocalResponseNorm."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlparts.scratch.gradcheck import numerical_gradient, rel_error
from dlparts.scratch.norm import lrn_backward, lrn_forward


def torch_lrn(x, size, alpha, beta, k):
    """PyTorch's layer with the settings that match the paper's formula: alpha times n."""
    return torch.nn.LocalResponseNorm(size, alpha=alpha * size, beta=beta, k=k)(x)


@pytest.mark.parametrize(
    "size,alpha,beta,k", [(5, 1e-4, 0.75, 2.0), (3, 0.1, 0.5, 1.0), (1, 0.5, 1.0, 0.5)]
)
def test_forward_and_backward_match_pytorch(size, alpha, beta, k):
    rng = np.random.default_rng(0)
    x = rng.normal(0, 3, size=(2, 7, 4, 3))
    out, cache = lrn_forward(x, size, alpha, beta, k)
    xt = torch.tensor(x, requires_grad=True)
    ref = torch_lrn(xt, size, alpha, beta, k)
    assert rel_error(out, ref.detach().numpy()) < 1e-10
    dout = rng.normal(size=x.shape)
    ref.backward(torch.tensor(dout))
    assert rel_error(lrn_backward(dout, cache), xt.grad.numpy()) < 1e-9


def test_paper_constants_are_the_defaults_and_differ_from_pytorch_defaults():
    x = np.random.default_rng(1).normal(0, 10, size=(1, 8, 2, 2))
    out, _ = lrn_forward(x)
    ref = torch_lrn(torch.tensor(x), 5, 1e-4, 0.75, 2.0).numpy()
    assert rel_error(out, ref) < 1e-10
    naive = torch.nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75)(torch.tensor(x)).numpy()
    assert rel_error(out, naive) > 0.1  # k=1 and alpha/n: a different layer


def test_window_is_clipped_at_the_edges():
    # one channel active: only channels within n//2 of it are divided by more than k^beta
    x = np.zeros((1, 9, 1, 1))
    x[0, 4] = 10.0
    x[0, :, 0, 0] += 1.0
    out, _ = lrn_forward(x, size=5, alpha=1.0, beta=1.0, k=1.0)
    s = 1 + np.array(
        [sum(x[0, j, 0, 0] ** 2 for j in range(max(0, i - 2), min(8, i + 2) + 1)) for i in range(9)]
    )
    assert np.allclose(out[0, :, 0, 0], x[0, :, 0, 0] / s)


@pytest.mark.parametrize("size", [2, 4, 5])
def test_numerical_gradient(size):
    rng = np.random.default_rng(2)
    x = rng.normal(0, 2, size=(2, 6, 3, 2))
    dout = rng.normal(size=x.shape)
    params = dict(size=size, alpha=0.3, beta=0.75, k=2.0)
    _, cache = lrn_forward(x, **params)
    dx = lrn_backward(dout, cache)
    num = numerical_gradient(lambda v: lrn_forward(v, **params)[0], x.copy(), dout)
    assert rel_error(dx, num) < 1e-7


def test_keeps_float32():
    x = np.random.default_rng(3).normal(size=(2, 5, 3, 3)).astype(np.float32)
    out, cache = lrn_forward(x)
    assert out.dtype == np.float32
    assert lrn_backward(np.ones_like(out), cache).dtype == np.float32


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 9),
    h=st.integers(1, 4),
    size=st.integers(1, 7),
)
def test_shapes_and_bound(n, c, h, size):
    x = np.random.default_rng(c * 7 + h).normal(0, 5, size=(n, c, h, h))
    out, cache = lrn_forward(x, size=size, alpha=1e-2, beta=0.75, k=2.0)
    assert out.shape == x.shape
    # the denominator is at least k^beta, so LRN only ever shrinks activations
    assert np.all(np.abs(out) <= np.abs(x) / 2.0**0.75 + 1e-12)
    assert lrn_backward(np.ones_like(x), cache).shape == x.shape


@pytest.mark.parametrize(
    "x,kwargs",
    [
        (np.ones(5), {}),
        (np.ones((2, 3), dtype=np.int64), {}),
        (np.ones((1, 3, 2, 2)), {"size": 0}),
        (np.ones((1, 3, 2, 2)), {"k": 0.0}),
        (np.ones((1, 3, 2, 2)), {"alpha": -1.0}),
        ([[1.0, 2.0]], {}),
    ],
)
def test_bad_inputs(x, kwargs):
    with pytest.raises(ValueError):
        lrn_forward(x, **kwargs)


def test_bad_dout_shape():
    _, cache = lrn_forward(np.ones((1, 3, 2, 2)))
    with pytest.raises(ValueError, match="shape"):
        lrn_backward(np.ones((1, 3, 2)), cache)
