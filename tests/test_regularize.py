"""Penalties, weight decay, AlexNet's update rule and the digit augmentations."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlparts.augment import RandomShiftRotate, affine_batch, random_rotate, shift_batch
from dlparts.experiments.regularization import fit_linear
from dlparts.models import mlp
from dlparts.regularize import (
    AlexNetSGD,
    penalty,
    penalty_loss,
    sparsity,
    weight_params,
)
from dlparts.scratch.gradcheck import numerical_gradient, rel_error


@pytest.mark.parametrize("l1,l2", [(0.0, 0.3), (0.2, 0.0), (0.1, 0.05)])
def test_penalty_gradient(l1, l2):
    W = np.random.default_rng(0).standard_normal((5, 4))
    r, dW = penalty(W, l1, l2)
    assert r == pytest.approx(l1 * np.abs(W).sum() + l2 * (W**2).sum())
    assert rel_error(dW, numerical_gradient(lambda w: penalty(w, l1, l2)[0], W.copy())) < 1e-6


def test_penalty_bad_strength():
    with pytest.raises(ValueError, match="l2"):
        penalty(np.ones(3), l2=-1)
    with pytest.raises(ValueError, match="l1"):
        penalty_loss(l1=float("nan"))


def test_sgd_weight_decay_equals_l2_penalty_but_adam_differs():
    x, y = torch.randn(64, 10), torch.randint(0, 3, (64,))
    wd = 0.05

    def run(opt_cls, decoupled, **kw):
        torch.manual_seed(0)
        net = mlp(hidden=(16,), in_features=10, num_classes=3)
        params = weight_params(net)
        opt = opt_cls(net.parameters(), lr=0.05, **kw)
        for _ in range(10):
            loss = torch.nn.functional.cross_entropy(net(x), y)
            if not decoupled:
                loss = loss + penalty_loss(l2=wd / 2)(net, loss)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return torch.cat([p.detach().flatten() for p in params])

    # SGD: weight_decay on the weights (biases excluded via param groups) == L2 penalty wd/2
    def sgd_wd(params, lr):
        params = list(params)
        ws = [p for p in params if p.ndim >= 2]
        bs = [p for p in params if p.ndim < 2]
        return torch.optim.SGD([{"params": ws, "weight_decay": wd}, {"params": bs}], lr=lr)

    def adamw(params, lr):
        params = list(params)
        ws = [p for p in params if p.ndim >= 2]
        bs = [p for p in params if p.ndim < 2]
        return torch.optim.AdamW(
            [{"params": ws, "weight_decay": wd}, {"params": bs, "weight_decay": 0}], lr=lr
        )

    a, b = run(sgd_wd, True), run(torch.optim.SGD, False)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    c, d = run(adamw, True), run(torch.optim.Adam, False)
    assert (c - d).abs().max() > 1e-3


def test_alexnet_rule_equals_torch_sgd_at_constant_lr():
    x, y = torch.randn(32, 6), torch.randint(0, 2, (32,))
    out = []
    for opt_fn in (
        lambda p: AlexNetSGD(p, lr=0.05),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.0005),
    ):
        torch.manual_seed(1)
        net = mlp(hidden=(8,), in_features=6, num_classes=2)
        opt = opt_fn(net.parameters())
        for _ in range(15):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
        out.append(torch.cat([p.detach().flatten() for p in net.parameters()]))
    torch.testing.assert_close(out[0], out[1], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError):
        AlexNetSGD(net.parameters(), lr=-1)


def test_l1_makes_linear_weights_sparse():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((120, 20))
    y = (x[:, 0] > 0).astype(int)  # only feature 0 matters
    dense = fit_linear(x, y, steps=150, lr=0.05)
    sparse = fit_linear(x, y, l1=0.1, steps=150, lr=0.05)
    assert sparsity(sparse["W"]) > 0.5 > sparsity(dense["W"])
    assert sparse["train_acc"][-1] > 0.9


def test_sparsity_of_tensors():
    assert sparsity([torch.zeros(3), torch.ones(1)]) == pytest.approx(0.75)
    with pytest.raises(ValueError):
        sparsity([])


def test_shift_is_exact_and_rotation_turns_counter_clockwise():
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 0, 2] = 1.0  # top middle
    s = shift_batch(x, torch.tensor([1]), torch.tensor([2]))
    assert s[0, 0, 2, 3] == 1.0 and s.sum() == 1.0
    r = affine_batch(x, 0.0, 0.0, 90.0)
    assert r[0, 0, 2, 0] == pytest.approx(1.0, abs=1e-5)  # now left middle


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 5), c=st.integers(1, 3), h=st.integers(4, 12), seed=st.integers(0, 100))
def test_transforms_keep_shape_and_range(n, c, h, seed):
    x = torch.rand(n, c, h, h)
    t = RandomShiftRotate(max_shift=2, max_degrees=15, seed=seed)
    out = t(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6
    z = random_rotate(x, 0.0)
    torch.testing.assert_close(z, x, atol=1e-5, rtol=0)


def test_transform_bad_input():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        RandomShiftRotate()(torch.zeros(28, 28))
    with pytest.raises(ValueError, match="floating"):
        RandomShiftRotate()(torch.zeros(1, 1, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError):
        RandomShiftRotate(max_shift=-1)
