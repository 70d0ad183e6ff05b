"""From-scratch convolution and pooling against torch.nn.functional and numerical gradients."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dlparts.scratch import conv as conv_module
from dlparts.scratch.conv import (
    avgpool2d_backward,
    avgpool2d_forward,
    col2im,
    conv2d_backward,
    conv2d_forward,
    conv2d_naive,
    conv2d_naive_backward,
    conv2d_vectorized,
    conv2d_vectorized_backward,
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


@settings(max_examples=25, deadline=None)
@given(case=conv_cases)
def test_naive_and_vectorized_backward_match_pytorch(case):
    rng, x, w, b, hyper = _make(case)
    out = conv2d_naive(x, w, b, **hyper)
    dout = rng.standard_normal(out.shape)
    _, dx, dw, db = _torch(x, w, np.zeros(w.shape[0]), hyper, dout)
    for backward in (conv2d_naive_backward, conv2d_vectorized_backward):
        gx, gw, gb = backward(dout, x, w, **hyper)
        np.testing.assert_allclose(gx, dx, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(gw, dw, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(gb, db, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("backward", [conv2d_naive_backward, conv2d_vectorized_backward])
def test_baseline_backward_rejects_wrong_dout(backward):
    x, w = np.zeros((2, 3, 8, 8)), np.zeros((4, 3, 3, 3))
    with pytest.raises(ValueError, match="shape"):
        backward(np.zeros((2, 4, 5, 5)), x, w)  # the output is 6x6


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


# ----------------------------------------------------------------------------- pooling

pool_cases = st.fixed_dictionaries(
    {
        "n": st.integers(1, 3),
        "c": st.integers(1, 3),
        "h": st.integers(1, 10),
        "w": st.integers(1, 10),
        "kernel": st.tuples(st.integers(1, 4), st.integers(1, 4)),
        "stride": st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))),
        "padding": st.tuples(st.integers(0, 2), st.integers(0, 2)),
        "seed": st.integers(0, 2**16),
    }
)


def _pool_input(case):
    (kh, kw), (ph, pw) = case["kernel"], case["padding"]
    assume(2 * ph <= kh and 2 * pw <= kw)  # PyTorch's rule (tested separately below)
    assume(kh <= case["h"] + 2 * ph and kw <= case["w"] + 2 * pw)
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["n"], case["c"], case["h"], case["w"]))
    return rng, x, {key: case[key] for key in ("kernel", "stride", "padding")}


def _torch_pool(fn, x, hyper, dout_rng):
    xt = torch.tensor(x, requires_grad=True)
    y = fn(xt, hyper["kernel"], hyper["stride"], hyper["padding"])
    dout = dout_rng.standard_normal(tuple(y.shape))
    y.backward(torch.tensor(dout))
    return y.detach().numpy(), dout, xt.grad.numpy()


@SETTINGS
@given(case=pool_cases)
def test_maxpool_matches_pytorch(case):
    rng, x, hyper = _pool_input(case)
    y, dout, dx = _torch_pool(F.max_pool2d, x, hyper, rng)
    out, cache = maxpool2d_forward(x, hyper["kernel"], hyper["stride"], hyper["padding"])
    np.testing.assert_allclose(out, y)
    np.testing.assert_allclose(maxpool2d_backward(dout, cache), dx, atol=1e-12)


@SETTINGS
@given(case=pool_cases)
def test_avgpool_matches_pytorch_counting_the_padding(case):
    """F.avg_pool2d's default count_include_pad=True: every window is divided by kh*kw."""
    rng, x, hyper = _pool_input(case)
    y, dout, dx = _torch_pool(F.avg_pool2d, x, hyper, rng)
    out, cache = avgpool2d_forward(x, hyper["kernel"], hyper["stride"], hyper["padding"])
    np.testing.assert_allclose(out, y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(avgpool2d_backward(dout, cache), dx, rtol=1e-12, atol=1e-12)


def test_avgpool_divides_border_windows_by_the_full_size():
    out, _ = avgpool2d_forward(np.ones((1, 1, 2, 2)), 2, stride=2, padding=1)
    np.testing.assert_allclose(out[0, 0], np.full((2, 2), 0.25))  # one real pixel in each


def test_maxpool_padding_never_wins():
    x = -np.arange(1.0, 17.0).reshape(1, 1, 4, 4)  # all negative: zero padding would win
    out, _ = maxpool2d_forward(x, 2, stride=2, padding=1)
    assert out.max() < 0
    np.testing.assert_allclose(out, F.max_pool2d(torch.tensor(x), 2, 2, 1).numpy())


@pytest.mark.parametrize(
    "forward, backward",
    [(maxpool2d_forward, maxpool2d_backward), (avgpool2d_forward, avgpool2d_backward)],
)
def test_pool_numerical_gradient_and_dtype(forward, backward):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 2, 7, 7))
    for stride, padding in [(2, 0), (2, 1), ((1, 2), (1, 0))]:  # overlapping, as in AlexNet
        out, cache = forward(x, 3, stride, padding)
        dout = rng.standard_normal(out.shape)
        num = numerical_gradient(lambda v, s=stride, p=padding: forward(v, 3, s, p)[0], x, dout)
        assert rel_error(backward(dout, cache), num) < 1e-6
    out, _ = forward(x, 3, 2)
    assert out.shape == (2, 2, 3, 3)
    out32, cache32 = forward(x.astype(np.float32), 2)
    assert out32.dtype == np.float32 and out32.shape == (2, 2, 3, 3)
    assert backward(np.ones_like(out32), cache32).dtype == np.float32
    out_int, _ = forward(np.arange(16).reshape(1, 1, 4, 4), 2)
    assert out_int.dtype == np.float64


@pytest.mark.parametrize("forward", [maxpool2d_forward, avgpool2d_forward])
@pytest.mark.parametrize(
    "shape, kernel, stride, padding, match",
    [
        ((1, 1, 6, 6), 3, 2, 2, "half the window"),  # PyTorch: pad <= kernel / 2
        ((1, 1, 6, 6), (4, 2), 1, (1, 2), "half the window"),
        ((1, 1, 6, 6), 3, 2, -1, "padding"),
        ((1, 1, 6, 6), 0, None, 0, "kernel|size"),
        ((1, 1, 6, 6), 3, 0, 0, "stride"),
        ((1, 1, 2, 2), 3, 1, 0, "larger|exceeds|padded"),
        ((6, 6), 2, None, 0, "NCHW"),
    ],
)
def test_pool_bad_inputs_raise(forward, shape, kernel, stride, padding, match):
    with pytest.raises(ValueError, match=match):
        forward(np.zeros(shape), kernel, stride, padding)


def test_pool_padding_check_is_pytorchs():
    """The same windows are refused: PyTorch raises too where the library does."""
    with pytest.raises(RuntimeError, match="half"):
        F.max_pool2d(torch.zeros(1, 1, 6, 6), 3, 2, 2)
    with pytest.raises(ValueError, match="half"):
        maxpool2d_forward(np.zeros((1, 1, 6, 6)), 3, 2, 2)
    maxpool2d_forward(np.zeros((1, 1, 6, 6)), 2, 2, 1)  # 2p == k is allowed by both
    F.max_pool2d(torch.zeros(1, 1, 6, 6), 2, 2, 1)


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
    _, acache = avgpool2d_forward(np.zeros((1, 1, 4, 4)), 2, padding=1)
    with pytest.raises(ValueError, match="shape"):
        avgpool2d_backward(np.zeros((1, 1, 2, 2)), acache)


# ----------------------------------------------------------------------------- explorer, exports


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


def test_threaded_unroll_and_fold_give_the_serial_result(monkeypatch):
    """Large copies and folds are split by channels over the BLAS threads: same numbers."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 7, 9, 8))
    w = rng.standard_normal((5, 7, 3, 2))
    b = rng.standard_normal(5)
    hyper = dict(stride=(2, 1), padding=(1, 1), dilation=(1, 2))
    out, cache = conv2d_forward(x, w, b, **hyper)
    dout = rng.standard_normal(out.shape)
    serial = conv2d_backward(dout, cache)
    calls = []
    split = conv_module._split

    def counting_split(count, size, work):
        calls.append(count)
        split(count, size, work)

    monkeypatch.setattr(conv_module, "_PARALLEL_MIN", 0)
    monkeypatch.setattr(conv_module, "_threads", lambda: 3)
    monkeypatch.setattr(conv_module, "_split", counting_split)
    out3, cache3 = conv2d_forward(x, w, b, **hyper)
    threaded = conv2d_backward(dout, cache3)
    assert calls == [7, 7]  # the unroll and the fold, each over the 7 channels
    np.testing.assert_array_equal(out3, out)
    for a, s in zip(threaded, serial):
        np.testing.assert_array_equal(a, s)


@pytest.mark.parametrize("per_chunk", [1, 2])  # 3 samples: chunks of 1, and of 2 then 1
def test_backward_in_chunks_of_samples_gives_the_same_gradients(monkeypatch, per_chunk):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 4, 7, 6))
    w = rng.standard_normal((5, 4, 3, 3))
    b = rng.standard_normal(5)
    out, cache = conv2d_forward(x, w, b, stride=(1, 2), padding=1)
    dout = rng.standard_normal(out.shape)
    whole = conv2d_backward(dout, cache)
    monkeypatch.setattr(conv_module, "_GEMM_COLUMNS", per_chunk * out.shape[2] * out.shape[3])
    for a, s in zip(conv2d_backward(dout, cache), whole):
        np.testing.assert_allclose(a, s, rtol=1e-12, atol=1e-12)


def test_conv_module_no_longer_exports_limit_threads():
    """limit_threads lives in dlparts.runtime (tested there); scratch.conv is layers only."""
    assert not hasattr(conv_module, "limit_threads")
    assert "limit_threads" not in conv_module.__all__
