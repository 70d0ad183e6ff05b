"""Weight-decay experiments, the elastic-net solver and the hinge loss's margin scaling."""

import numpy as np
import pytest
import torch

from dlparts.experiments.weight_decay import (
    METHODS,
    correlated_group,
    decay_sweep,
    fit_hinge,
    make_optimizer,
    train_decayed,
)
from dlparts.models import mlp
from dlparts.optim import SGDW
from dlparts.regularize import elastic_net_regression


def _tiny_data(n=60, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return {"x_train": x, "y_train": y, "x_val": x[:20], "y_val": y[:20]}


@pytest.mark.parametrize(
    "method, cls",
    [
        ("sgd+l2", torch.optim.SGD),
        ("sgdw", SGDW),
        ("adam+l2", torch.optim.Adam),
        ("adamw", torch.optim.AdamW),
    ],
)
def test_make_optimizer_decays_weights_only(method, cls):
    net = mlp((8,))
    opt = make_optimizer(net, method, 0.01, lr=0.1)
    assert type(opt) is cls
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    assert decayed == {id(p) for p in net.parameters() if p.ndim >= 2}


def test_make_optimizer_bad_input():
    with pytest.raises(ValueError, match="method"):
        make_optimizer(mlp((8,)), "sgd", 0.01, lr=0.1)
    with pytest.raises(ValueError, match="weight_decay"):
        make_optimizer(mlp((8,)), "sgdw", -0.01, lr=0.1)


def test_train_decayed_records_and_agrees_without_decay():
    d = _tiny_data()
    a = train_decayed(d, "sgd+l2", 0.0, lr=0.1, hidden=(8,), epochs=3, batch_size=20)
    b = train_decayed(d, "sgdw", 0.0, lr=0.1, hidden=(8,), epochs=3, batch_size=20)
    c = train_decayed(d, "sgdw", 0.5, lr=0.1, hidden=(8,), epochs=3, batch_size=20)
    assert len(a.weight_sq_curve) == len(a.train_err_curve) == 3
    assert a.weight_sq == pytest.approx(b.weight_sq, rel=1e-6)
    assert c.weight_sq < a.weight_sq  # decay shrinks the weights
    assert 0 <= a.val_acc <= 1


def test_decay_sweep_pairs_runs_by_seed():
    out = decay_sweep(
        lambda s: _tiny_data(seed=s),
        [("sgdw", 0.0), ("sgdw", 0.1, {"lr": 0.05})],
        [0, 1],
        lr=0.1,
        hidden=(8,),
        epochs=1,
        batch_size=30,
    )
    assert set(out) == {("sgdw", 0.0), ("sgdw", 0.1)}
    assert all(len(v) == 2 for v in out.values())
    with pytest.raises(ValueError, match="seeds"):
        decay_sweep(lambda s: _tiny_data(), [("sgdw", 0.0)], [])
    assert set(METHODS) == {"sgd+l2", "sgdw", "adam+l2", "adamw"}


def test_correlated_group_correlations():
    d = correlated_group(n=4000, group_size=4, n_other=3, rho=0.9, rng=0)
    c = np.corrcoef(d["x"].T)
    off = c[:4, :4][~np.eye(4, dtype=bool)]
    assert np.allclose(off, 0.9, atol=0.03)
    assert np.abs(c[4:, :4]).max() < 0.06
    assert d["x"].shape == (4000, 7) and list(d["group"]) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="rho"):
        correlated_group(rho=1.5)


def test_elastic_net_closed_form_on_orthonormal_inputs():
    rng = np.random.default_rng(0)
    n, dim = 50, 6
    q, _ = np.linalg.qr(rng.standard_normal((n, dim)))
    x = q * np.sqrt(n)  # x.T @ x / n = I
    y = rng.standard_normal(n) * 2
    z = x.T @ y / n
    for l1, l2 in [(0.3, 0.0), (0.0, 0.4), (0.3, 0.4)]:
        expected = np.sign(z) * np.maximum(np.abs(z) - l1, 0) / (1 + 2 * l2)
        np.testing.assert_allclose(elastic_net_regression(x, y, l1, l2), expected, atol=1e-8)


def test_elastic_net_optimality_conditions():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((40, 8)), rng.standard_normal(40)
    l1, l2 = 0.1, 0.2
    w = elastic_net_regression(x, y, l1, l2)
    g = x.T @ (x @ w - y) / 40 + 2 * l2 * w  # gradient of the smooth part
    nz = w != 0
    np.testing.assert_allclose(g[nz], -l1 * np.sign(w[nz]), atol=1e-7)
    assert np.all(np.abs(g[~nz]) <= l1 + 1e-7)


def test_elastic_net_bad_input():
    with pytest.raises(ValueError, match="shape"):
        elastic_net_regression(np.ones((3, 2)), np.ones(4))
    with pytest.raises(ValueError, match="l1"):
        elastic_net_regression(np.ones((3, 2)), np.ones(3), l1=-1)


def test_hinge_margin_and_penalty_trade_off_exactly():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((30, 5)), rng.integers(0, 3, 30)
    w0 = 0.01 * rng.standard_normal((5, 3))
    delta, lam, lr = 4.0, 0.05, 0.05
    big = fit_hinge(x, y, margin=delta, l2=lam, lr=lr * delta, w0=delta * w0, steps=100)
    one = fit_hinge(x, y, margin=1.0, l2=lam * delta, lr=lr, w0=w0, steps=100)
    np.testing.assert_allclose(big["W"], delta * one["W"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(big["b"], delta * one["b"], rtol=1e-9, atol=1e-12)
    other = fit_hinge(x, y, margin=1.0, l2=lam, lr=lr, w0=w0, steps=100)
    assert np.abs(other["W"] - one["W"]).max() > 1e-3  # the same λ with Δ = 1 is another problem


def test_fit_hinge_bad_input():
    with pytest.raises(ValueError, match="margin"):
        fit_hinge(np.ones((4, 2)), np.array([0, 1, 0, 1]), margin=0.0)
    with pytest.raises(ValueError, match="w0"):
        fit_hinge(np.ones((4, 2)), np.array([0, 1, 0, 1]), w0=np.zeros((3, 2)))
