"""The hinge (SVM) and softmax losses from scratch, against PyTorch and numerical gradients."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from dlparts.scratch.gradcheck import numerical_gradient, rel_error
from dlparts.scratch.losses import softmax_loss, svm_loss


def _data(n=7, c=5, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, c)).astype(dtype), rng.integers(0, c, n)


def _torch(scores, y, kind, margin=1.0):
    s = torch.tensor(scores, requires_grad=True)
    t = torch.tensor(y)
    if kind == "svm":
        # torch averages over classes as well as samples: multiply by C to get the lecture's sum
        loss = scores.shape[1] * F.multi_margin_loss(s, t, margin=margin)
    else:
        loss = F.cross_entropy(s, t)
    loss.backward()
    return loss.item(), s.grad.numpy()


@pytest.mark.parametrize("margin", [1.0, 0.5, 3.0])
def test_svm_matches_torch(margin):
    scores, y = _data()
    loss, d = svm_loss(scores, y, margin=margin)
    tl, td = _torch(scores, y, "svm", margin)
    assert loss == pytest.approx(tl, rel=1e-10)
    assert rel_error(d, td) < 1e-9


def test_softmax_matches_torch():
    scores, y = _data(n=11, c=10, seed=3)
    loss, d = softmax_loss(scores, y)
    tl, td = _torch(scores, y, "softmax")
    assert loss == pytest.approx(tl, rel=1e-10)
    assert rel_error(d, td) < 1e-9


@pytest.mark.parametrize("fn", [svm_loss, softmax_loss])
def test_numerical_gradient(fn):
    scores, y = _data(n=6, c=4, seed=1)
    _, d = fn(scores, y)
    num = numerical_gradient(lambda s: fn(s, y)[0], scores.copy())
    assert rel_error(d, num) < 1e-6


def test_svm_hand_example():
    # the lecture's cat/car/frog example: scores for the cat image, correct class cat
    scores = np.array([[3.2, 5.1, -1.7]])
    loss, _ = svm_loss(scores, np.array([0]))
    assert loss == pytest.approx(max(0, 5.1 - 3.2 + 1) + max(0, -1.7 - 3.2 + 1))  # 2.9


def test_svm_zero_when_margins_met_softmax_never_zero():
    scores = np.array([[10.0, 0.0, 0.0], [0.0, 0.0, 10.0]])
    y = np.array([0, 2])
    loss, d = svm_loss(scores, y)
    assert loss == 0 and not d.any()
    assert softmax_loss(scores, y)[0] > 0


def test_large_scores_are_stable():
    scores = np.array([[1000.0, 0.0, -1000.0]])
    loss, d = softmax_loss(scores, np.array([2]))
    assert np.isfinite(loss) and loss == pytest.approx(2000.0)
    assert np.all(np.isfinite(d))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fn", [svm_loss, softmax_loss])
def test_dtype_kept(fn, dtype):
    scores, y = _data(dtype=dtype)
    assert fn(scores, y)[1].dtype == dtype


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 8), c=st.integers(2, 9), seed=st.integers(0, 10_000))
def test_shapes_and_parity_any_size(n, c, seed):
    scores, y = _data(n, c, seed)
    for fn, kind in ((svm_loss, "svm"), (softmax_loss, "softmax")):
        loss, d = fn(scores, y)
        tl, td = _torch(scores, y, kind)
        assert d.shape == (n, c)
        assert loss == pytest.approx(tl, rel=1e-9, abs=1e-12)
        np.testing.assert_allclose(d, td, atol=1e-12)
    # the softmax gradient of each row sums to zero
    np.testing.assert_allclose(softmax_loss(scores, y)[1].sum(1), 0, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(
    c=st.integers(2, 6), bad=st.sampled_from([-1, 0]), fn=st.sampled_from([svm_loss, softmax_loss])
)
def test_labels_out_of_range(c, bad, fn):
    scores, y = _data(4, c)
    y[2] = bad if bad < 0 else c  # -1 or C
    with pytest.raises(ValueError, match="labels must lie"):
        fn(scores, y)


@pytest.mark.parametrize("fn", [svm_loss, softmax_loss])
def test_bad_shapes(fn):
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        fn(np.zeros(5), np.zeros(5, int))
    with pytest.raises(ValueError, match="y must have shape"):
        fn(np.zeros((5, 3)), np.zeros(4, int))
    with pytest.raises(ValueError, match="integer"):
        fn(np.zeros((2, 3)), np.array([0.5, 1.0]))
