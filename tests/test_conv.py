"""From-scratch convolution and max pooling against torch.nn.functional and numerical gradients."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dlparts.scratch.conv import (
    col2im,
    conv2d_backward,
    conv2d_forward,
    conv2d_naive,
    conv2d_vectorized,
    im2col,
    maxpool2d_backward,
    maxpool2d_forward,
)
from dlparts.scratch.gradcheck import numerical_gradient, rel_error

SETTINGS = settings(max_examples=50, deadline=None)

conv_cases = st.fixed_dictionaries(
    {
        "n": st.integers(1, 3),
        "c": st.integers(1, 4),
        "h": st.integers(1, 9),
        "w": st.integers(1, 9),
        "k": st.integers(1, 4),
        "kh": st.integers(1, 4),
        "kw": st.integers(1, 4),
        "stride": st.tuples(st.integers(1, 3), st.integers(1, 3)),
        "padding": st.tuples(st.integers(0, 2), st.integers(0, 2)),
        "dilation": st.tuples(st.integers(1, 2), st.integers(1, 2)),
        "bias": st.booleans(),
        "seed": st.integers(0, 2**16),
    }
)


def _make(case, dtype=np.float64):
    ext_h = case["dilation"][0] * (case["kh"] - 1) + 1
    ext_w = case["dilation"][1] * (case["kw"] - 1) + 1
    assume(ext_h <= case["h"] + 2 * case["padding"][0])
    assume(ext_w <= case["w"] + 2 * case["padding"][1])
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["n"], case["c"], case["h"], case["w"])).astype(dtype)
    w = rng.standard_normal((case["k"], case["c"], case["kh"], case["kw"])).astype(dtype)
    b = rng.standard_normal(case["k"]).astype(dtype) if case["bias"] else None
    hyper = {key: case[key] for key in ("stride", "padding", "dilation")}
    return rng, x, w, b, hyper


def _torch(x, w, b, hyper, dout):
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    y = F.conv2d(xt, wt, bt, **hyper)
    if dout is None:
        return y.detach().numpy()
    y.backward(torch.tensor(dout))
    return (
        y.detach().numpy(),
        xt.grad.numpy(),
        wt.grad.numpy(),
        None if b is None else bt.grad.numpy(),
    )


@SETTINGS
@given(case=conv_cases)
def test_forward_backward_match_pytorch(case):
    rng, x, w, b, hyper = _make(case)
    out, cache = conv2d_forward(x, w, b, **hyper)
    dout = rng.standard_normal(out.shape)
    y, dx, dw, db = _torch(x, w, b, hyper, dout)
    np.testing.assert_allclose(out, y, rtol=1e-10, atol=1e-10)
    gx, gw, gb = conv2d_backward(dout, cache)
    np.testing.assert_allclose(gx, dx, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gw, dw, rtol=1e-10, atol=1e-10)
    if b is None:
        assert gb is None
    else:
        np.testing.assert_allclose(gb, db, rtol=1e-10, atol=1e-10)


@settings(max_examples=25, deadline=None)
@given(case=conv_cases)
def test_naive_and_vectorized_match_pytorch(case):
    _, x, w, b, hyper = _make(case)
    y = _torch(x, w, b, hyper, None)
    np.testing.assert_allclose(conv2d_naive(x, w, b, **hyper), y, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(conv2d_vectorized(x, w, b, **hyper), y, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "fn", [conv2d_naive, conv2d_vectorized, lambda *a, **k: conv2d_forward(*a, **k)[0]]
)
def test_float32_is_kept(fn):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    out = fn(x, w, b, stride=2, padding=1)
    assert out.dtype == np.float32
    ref = F.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), stride=2, padding=1)
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-4, atol=1e-4)


def test_float32_backward_is_kept():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    out, cache = conv2d_forward(x, w, b, padding=1)
    grads = conv2d_backward(np.ones_like(out), cache)
    assert all(g.dtype == np.float32 for g in grads)


def test_numerical_gradients():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 7, 6))
    w = rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4)
    hyper = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2))
    out, cache = conv2d_forward(x, w, b, **hyper)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv2d_backward(dout, cache)
    assert (
        rel_error(dx, numerical_gradient(lambda v: conv2d_forward(v, w, b, **hyper)[0], x, dout))
        < 1e-7
    )
    assert (
        rel_error(dw, numerical_gradient(lambda v: conv2d_forward(x, v, b, **hyper)[0], w, dout))
        < 1e-7
    )
    assert (
        rel_error(db, numerical_gradient(lambda v: conv2d_forward(x, w, v, **hyper)[0], b, dout))
        < 1e-7
    )


@SETTINGS
@given(case=conv_cases)
def test_col2im_is_the_adjoint_of_im2col(case):
    """<im2col(x), c> == <x, col2im(c)> for every x and c: col2im is exactly im2col's transpose."""
    rng, x, w, _, hyper = _make(case)
    kh, kw = w.shape[2:]
    cols = im2col(x, kh, kw, **hyper)
    c = rng.standard_normal(cols.shape)
    lhs = np.sum(cols * c)
    rhs = np.sum(x * col2im(c, x.shape, kh, kw, **hyper))
    assert abs(lhs - rhs) <= 1e-9 * (1 + abs(lhs))


def test_im2col_times_filters_is_the_convolution():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 6, 5))
    w = rng.standard_normal((4, 3, 3, 3))
    cols = im2col(x, 3, 3, padding=1)
    assert cols.shape == (3 * 3 * 3, 2 * 6 * 5)
    y = (w.reshape(4, -1) @ cols).reshape(4, 2, 6, 5).transpose(1, 0, 2, 3)
    np.testing.assert_allclose(y, conv2d_naive(x, w, None, padding=1), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- max pooling


@SETTINGS
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 3),
    h=st.integers(1, 10),
    w=st.integers(1, 10),
    k=st.integers(1, 4),
    s=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_maxpool_matches_pytorch(n, c, h, w, k, s, seed):
    assume(k <= h and k <= w)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    out, cache = maxpool2d_forward(x, k, s)
    xt = torch.tensor(x, requires_grad=True)
    y = F.max_pool2d(xt, k, s)
    dout = rng.standard_normal(out.shape)
    y.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, y.detach().numpy())
    np.testing.assert_allclose(maxpool2d_backward(dout, cache), xt.grad.numpy(), atol=1e-12)


def test_maxpool_numerical_gradient_and_dtype():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 2, 7, 7))
    out, cache = maxpool2d_forward(x, 3, 2)  # overlapping, as in AlexNet
    assert out.shape == (2, 2, 3, 3)
    dout = rng.standard_normal(out.shape)
    num = numerical_gradient(lambda v: maxpool2d_forward(v, 3, 2)[0], x, dout)
    assert rel_error(maxpool2d_backward(dout, cache), num) < 1e-7
    out32, cache32 = maxpool2d_forward(x.astype(np.float32), 2)
    assert out32.dtype == np.float32 and out32.shape == (2, 2, 3, 3)
    assert maxpool2d_backward(np.ones_like(out32), cache32).dtype == np.float32


# ----------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("fn", [conv2d_naive, conv2d_vectorized, conv2d_forward])
def test_channel_mismatch_names_both_shapes(fn):
    x = np.zeros((2, 3, 8, 8))
    w = np.zeros((4, 5, 3, 3))
    with pytest.raises(ValueError) as err:
        fn(x, w, np.zeros(4))
    assert "(2, 3, 8, 8)" in str(err.value) and "(4, 5, 3, 3)" in str(err.value)


@pytest.mark.parametrize(
    "x_shape, w_shape, b_shape, hyper",
    [
        ((3, 8, 8), (4, 3, 3, 3), (4,), {}),  # no batch dimension
        ((2, 3, 8, 8), (4, 3, 3), (4,), {}),  # filters not 4-D
        ((2, 3, 8, 8), (4, 3, 3, 3), (5,), {}),  # one bias per filter
        ((2, 3, 2, 2), (4, 3, 3, 3), (4,), {}),  # kernel larger than the input
        ((2, 3, 8, 8), (4, 3, 3, 3), (4,), {"stride": 0}),
        ((2, 3, 8, 8), (4, 3, 3, 3), (4,), {"padding": -1}),
        ((2, 3, 8, 8), (4, 3, 3, 3), (4,), {"dilation": (1, 2, 3)}),
    ],
)
def test_bad_inputs_raise(x_shape, w_shape, b_shape, hyper):
    with pytest.raises(ValueError):
        conv2d_forward(np.zeros(x_shape), np.zeros(w_shape), np.zeros(b_shape), **hyper)


def test_backward_rejects_wrong_dout():
    out, cache = conv2d_forward(np.zeros((2, 3, 8, 8)), np.zeros((4, 3, 3, 3)), np.zeros(4))
    with pytest.raises(ValueError, match="shape"):
        conv2d_backward(np.zeros((2, 4, 5, 5)), cache)
    _, pcache = maxpool2d_forward(np.zeros((1, 1, 4, 4)), 2)
    with pytest.raises(ValueError, match="shape"):
        maxpool2d_backward(np.zeros((1, 1, 3, 3)), pcache)


# ----------------------------------------------------------------------------- explorer, threads


def test_explorer_figure_says_when_a_stride_does_not_fit():
    import matplotlib

    matplotlib.use("Agg")
    from dlparts.widgets.conv import conv_explorer, describe_conv, draw_conv

    text, fits = describe_conv(7, 3, 3)
    assert not fits and "2.33" in text and "does not fit" in text
    text, fits = describe_conv(7, 3, 2, padding=1)
    assert fits and text.endswith("output 4x4")
    ax = draw_conv(7, 3, stride=3)
    assert "does not fit" in ax.get_title()
    box = conv_explorer(n=9, kernel=3, stride=2, padding=1, dilation=2)
    assert [s.value for s in box.children[0].children] == [9, 3, 2, 1, 2]


def test_limit_threads_restores_and_rejects_bad_counts():
    from dlparts.scratch.conv import limit_threads

    before = torch.get_num_threads()
    with limit_threads(1) as text:
        assert torch.get_num_threads() == 1 and "1 thread" in text
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError):
        with limit_threads(0):
            pass
