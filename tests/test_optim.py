"""SGDW (decoupled weight decay) against PyTorch's SGD and an explicit L2 penalty."""

import pytest
import torch
import torch.nn.functional as F

from dlparts.models import mlp
from dlparts.optim import SGDW, effective_decay, measured_decay_per_step
from dlparts.regularize import penalty_loss, weight_params


def _train(make_opt, l2=0.0, steps=10):
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(64, 10, generator=g), torch.randint(0, 3, (64,), generator=g)
    torch.manual_seed(0)
    net = mlp(hidden=(16,), in_features=10, num_classes=3)
    ws = weight_params(net)
    bs = [p for p in net.parameters() if p.ndim < 2]
    opt = make_opt(ws, bs)
    for _ in range(steps):
        out = net(x)
        loss = F.cross_entropy(out, y) + penalty_loss(l2=l2)(net, out)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def _groups(ws, bs, wd):
    return [{"params": ws, "weight_decay": wd}, {"params": bs, "weight_decay": 0.0}]


WD, LR = 0.05, 0.1


def test_sgdw_without_momentum_is_sgd_weight_decay_and_l2():
    a = _train(lambda w, b: SGDW(_groups(w, b, WD), lr=LR, momentum=0.0))
    b = _train(lambda w, b: torch.optim.SGD(_groups(w, b, WD), lr=LR))
    c = _train(lambda w, b: torch.optim.SGD(_groups(w, b, 0.0), lr=LR), l2=WD / 2)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(a, c, rtol=1e-5, atol=1e-6)


def test_sgdw_without_decay_is_sgd_with_momentum():
    a = _train(lambda w, b: SGDW(_groups(w, b, 0.0), lr=LR, momentum=0.9))
    b = _train(lambda w, b: torch.optim.SGD(_groups(w, b, 0.0), lr=LR, momentum=0.9))
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_torch_sgd_weight_decay_is_l2_even_with_momentum():
    a = _train(lambda w, b: torch.optim.SGD(_groups(w, b, WD), lr=LR, momentum=0.9))
    b = _train(lambda w, b: torch.optim.SGD(_groups(w, b, 0.0), lr=LR, momentum=0.9), l2=WD / 2)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_sgdw_differs_from_l2_under_momentum():
    a = _train(lambda w, b: SGDW(_groups(w, b, WD), lr=LR, momentum=0.9), steps=30)
    b = _train(lambda w, b: torch.optim.SGD(_groups(w, b, WD), lr=LR, momentum=0.9), steps=30)
    assert (a - b).abs().max() > 1e-3


def test_biases_in_a_zero_decay_group_are_not_decayed():
    b = torch.nn.Parameter(torch.ones(3))
    opt = SGDW([{"params": [b], "weight_decay": 0.0}], lr=0.5, weight_decay=0.3)
    b.grad = torch.zeros(3)
    opt.step()
    torch.testing.assert_close(b.detach(), torch.ones(3))


@pytest.mark.parametrize("mu", [0.0, 0.5, 0.9])
def test_decay_per_step_matches_prediction(mu):
    lr, wd = 0.1, 5e-4
    sgdw = measured_decay_per_step(lambda p: SGDW(p, lr=lr, momentum=mu, weight_decay=wd))
    l2 = measured_decay_per_step(lambda p: torch.optim.SGD(p, lr=lr, momentum=mu, weight_decay=wd))
    assert sgdw == pytest.approx(effective_decay(lr, wd, mu, decoupled=True), rel=1e-9)
    assert l2 == pytest.approx(effective_decay(lr, wd, mu), rel=0.02)
    # under momentum 0.9 the L2 term decays ten times faster than SGDW, as predicted
    assert l2 / sgdw == pytest.approx(1 / (1 - mu), rel=0.02)


def test_effective_decay_values():
    assert effective_decay(0.1, 0.01) == pytest.approx(1e-3)
    assert effective_decay(0.1, 0.01, 0.9) == pytest.approx(1e-2)
    assert effective_decay(0.1, 0.01, 0.9, decoupled=True) == pytest.approx(1e-3)


def test_closure_and_missing_gradients():
    w = torch.nn.Parameter(torch.ones(2))
    unused = torch.nn.Parameter(torch.ones(2))
    opt = SGDW([w, unused], lr=0.1, momentum=0.9, weight_decay=0.1)

    def closure():
        opt.zero_grad()
        loss = (w**2).sum()
        loss.backward()
        return loss

    assert float(opt.step(closure).detach()) == pytest.approx(2.0)
    torch.testing.assert_close(unused.detach(), torch.ones(2))  # no gradient: untouched
    # w <- w(1 - 0.1*0.1) - 0.1*2w = 0.79 w
    torch.testing.assert_close(w.detach(), torch.full((2,), 0.79))


@pytest.mark.parametrize(
    "kw, word",
    [
        ({"lr": 0.0}, "lr"),
        ({"lr": -1.0}, "lr"),
        ({"momentum": 1.0}, "momentum"),
        ({"momentum": -0.1}, "momentum"),
        ({"weight_decay": -1e-3}, "weight_decay"),
        ({"lr": True}, "lr"),
    ],
)
def test_bad_hyperparameters(kw, word):
    with pytest.raises(ValueError, match=word):
        SGDW([torch.nn.Parameter(torch.ones(1))], **kw)


def test_bad_group_and_helpers():
    with pytest.raises(ValueError, match="weight_decay"):
        SGDW([{"params": [torch.nn.Parameter(torch.ones(1))], "weight_decay": -1.0}], lr=0.1)
    with pytest.raises(ValueError, match="momentum"):
        effective_decay(0.1, 0.01, momentum=1.0)
    with pytest.raises(ValueError, match="steps"):
        measured_decay_per_step(lambda p: SGDW(p, lr=0.1), steps=2)
    with pytest.raises(ValueError, match="smaller"):
        measured_decay_per_step(lambda p: SGDW(p, lr=1.0, weight_decay=1.0))
