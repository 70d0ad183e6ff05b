"""Tests for dlparts.experiments.batchnorm: the sweep helpers and Algorithm 2."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from dlparts.experiments import batchnorm as bnx
from dlparts.train import History


def fake_data(n=120, size=28, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "x_train": torch.rand(n, 1, size, size, generator=g),
        "y_train": torch.randint(0, 10, (n,), generator=g),
        "x_test": torch.rand(40, 1, size, size, generator=g),
        "y_test": torch.randint(0, 10, (40,), generator=g),
    }


def hist(steps, accs, diverged=False):
    h = History()
    h.eval_step, h.val_acc, h.diverged = list(steps), list(accs), diverged
    return h


def test_downsample_averages_blocks_and_keeps_labels():
    d = fake_data()
    small = bnx.downsample(d)
    assert small["x_train"].shape == (120, 1, 14, 14)
    assert torch.equal(small["y_train"], d["y_train"])
    block = d["x_train"][0, 0, :2, :2].mean()
    assert torch.isclose(small["x_train"][0, 0, 0, 0], block)
    with pytest.raises(ValueError):
        bnx.downsample(d, 0)


def test_scaled_sigmoid_mlp_draws_weights_by_fan_in():
    torch.manual_seed(0)
    m = bnx.scaled_sigmoid_mlp(bn=False, gain=4.0, n_in=196, hidden=400)
    linears = [layer for layer in m if isinstance(layer, nn.Linear)]
    for layer in linears:
        expected = 4.0 / math.sqrt(layer.in_features)
        assert abs(layer.weight.std().item() / expected - 1) < 0.05
    assert m(torch.rand(5, 1, 14, 14)).shape == (5, 10)
    with pytest.raises(ValueError):
        bnx.scaled_sigmoid_mlp(bn=True, gain=0)


def test_steps_to_censors_never_and_final_acc_averages_the_tail():
    h = hist([25, 50, 75], [0.5, 0.85, 0.9])
    assert bnx.steps_to(h, 0.8, censor=100) == 50
    assert bnx.steps_to(h, 0.95, censor=100) == 100
    assert bnx.final_acc(h) == pytest.approx(0.9)
    assert bnx.final_acc(h, last=2) == pytest.approx(0.875)
    assert bnx.final_acc(hist([], [], diverged=True)) == 0.0


def test_rates_that_train_and_verdict_use_the_mean_over_seeds():
    hists = {
        (0.5, 0): hist([10], [0.9]),
        (0.5, 1): hist([10], [0.3]),  # mean 0.6: trains
        (8.0, 0): hist([10], [0.4]),
        (8.0, 1): hist([10], [0.5]),  # mean 0.45: stuck
        (32.0, 0): hist([], [], diverged=True),
        (32.0, 1): hist([], [], diverged=True),
    }
    assert bnx.rates_that_train(hists, (0.5, 8.0, 32.0), 2) == [0.5]
    assert bnx.finals(hists, 8.0, 2) == [0.4, 0.5]
    assert [bnx.verdict(hists, lr, 2) for lr in (0.5, 8.0, 32.0)] == [
        "trains",
        "stuck",
        "diverged",
    ]


def test_sweep_pairs_seeds_and_returns_one_history_per_run():
    d = bnx.downsample(fake_data())
    out = bnx.sweep(
        lambda: bnx.scaled_sigmoid_mlp(bn=True),
        d,
        lrs=(0.1, 1.0),
        seeds=2,
        steps=3,
        eval_every=1,
    )
    assert sorted(out) == [(0.1, 0), (0.1, 1), (1.0, 0), (1.0, 1)]
    assert all(len(h.step) == 3 for h in out.values())
    again = bnx.sweep(
        lambda: bnx.scaled_sigmoid_mlp(bn=True), d, lrs=(0.1,), seeds=1, steps=3, eval_every=1
    )
    assert again[0.1, 0].loss == out[0.1, 0].loss  # the same seed: the same run
    with pytest.raises(ValueError):
        bnx.sweep(lambda: nn.Linear(1, 1), d, lrs=(0.1,), seeds=0, steps=1)


def test_population_statistics_is_algorithm_2():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 3), nn.BatchNorm1d(3))
    x = torch.randn(40, 5) * 2 + 1
    with torch.no_grad():
        h = model[0](x)
    batches = h.reshape(4, 10, 3)
    mean = batches.mean(dim=1).mean(dim=0)
    var = batches.var(dim=1, unbiased=True).mean(dim=0)
    bnx.population_statistics(model, x, batch_size=10)
    bn = model[1]
    assert torch.allclose(bn.running_mean, mean, atol=1e-6)
    assert torch.allclose(bn.running_var, var, atol=1e-5)
    assert bn.momentum == 0.1 and not model.training
    assert bnx.running_stat_lag(model, x, batch_size=10) == pytest.approx([0.0], abs=1e-6)
    with pytest.raises(ValueError):
        bnx.population_statistics(nn.Linear(2, 2), x)


def test_spreads_and_tails():
    a = np.array([[0.0, 10.0], [2.0, 10.0]])  # unit 0 varies by ±1, unit 1 is constant
    assert bnx.unit_spread([a]) == [pytest.approx(0.5)]
    assert bnx.spread([a])[0] == pytest.approx(np.std(a))
    assert bnx.tail_fraction([a], bound=4.0) == [0.5]


@pytest.mark.parametrize("bn", [False, True])
def test_exercise_networks_have_the_right_shape_and_layers(bn):
    x = torch.rand(6, 1, 14, 14)
    relu = bnx.relu_mlp(bn=bn)
    assert relu(x).shape == (6, 10)
    assert any(isinstance(m, nn.BatchNorm1d) for m in relu) == bn
    after = bnx.bn_after_sigmoid_mlp()
    kinds = [type(m) for m in after]
    i = kinds.index(nn.Sigmoid)
    assert kinds[i + 1] is nn.BatchNorm1d  # BN follows the sigmoid
    assert after(x).shape == (6, 10)
