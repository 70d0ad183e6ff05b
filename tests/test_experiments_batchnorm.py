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
    m = bnx.scaled_sigmoid_mlp(bn=False, gain=4.0, in_features=196, hidden=400)
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


def test_fit_steps_takes_exactly_the_steps_asked():
    d = bnx.downsample(fake_data(n=50))
    model = bnx.scaled_sigmoid_mlp(bn=True)
    h = bnx.fit_steps(
        model, d, steps=7, batch_size=20, optimizer=torch.optim.SGD(model.parameters(), lr=0.1)
    )
    assert len(h.step) == 7 and h.eval_step == [7] and len(h.val_acc) == 1
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        bnx.fit_steps(model, d, steps=0, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))


def test_train_mlp_records_percentiles_and_snapshots():
    d = fake_data(n=60)
    run = bnx.train_mlp(
        bnx.sigmoid_mlp(bn=True),
        d,
        steps=4,
        lr=0.1,
        batch_size=20,
        eval_every=2,
        n_snapshots=3,
        probe=10,
        progress=False,
    )
    assert run.bn and run.record_step == [0, 2, 4]
    assert run.percentiles.shape == (3, 3)
    assert np.all(np.diff(run.percentiles, axis=1) >= 0)  # 15th <= 50th <= 85th
    assert run.snapshot_step == [0, 2, 4] and run.snapshots[0][0].shape == (10, 100)


def test_running_stats_tracks_pytorchs_rule_at_every_momentum():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.Flatten(), nn.LazyLinear(2))
    model(torch.randn(4, 1, 6, 6))
    model[1].reset_running_stats()
    stats = bnx.RunningStats(model, momenta=(0.1, 0.01))
    ref = nn.BatchNorm2d(3, momentum=0.01)
    for _ in range(5):
        x = torch.randn(8, 1, 6, 6) * 3 + 1
        model(x)
        with torch.no_grad():
            ref(model[0](x))
    model.eval()
    model(torch.randn(8, 1, 6, 6))  # evaluation mode: nothing tracked
    assert stats.steps == 5
    # momentum 0.1 is the layer's own: the tracker agrees with it
    torch.testing.assert_close(stats.mean[0.1][0], model[1].running_mean)
    torch.testing.assert_close(stats.var[0.1][0], model[1].running_var)
    import copy

    slow = stats.apply(copy.deepcopy(model), 0.01)
    torch.testing.assert_close(slow[1].running_mean, ref.running_mean)
    torch.testing.assert_close(slow[1].running_var, ref.running_var)
    assert not slow.training
    stats.remove()
    model.train()(torch.randn(8, 1, 6, 6))
    assert stats.steps == 5
    with pytest.raises(ValueError, match="was not tracked"):
        stats.apply(copy.deepcopy(model), 0.5)
    with pytest.raises(ValueError, match="momenta must be"):
        bnx.RunningStats(model, momenta=(0.0,))
    with pytest.raises(ValueError, match="no batch-normalization layer"):
        bnx.RunningStats(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="BN layers"):
        stats.apply(nn.Sequential(nn.Linear(2, 2)), 0.1)


def test_accuracy_in_train_mode_restores_the_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.BatchNorm1d(3)).eval()
    x, y = torch.randn(12, 4), torch.randint(0, 3, (12,))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    acc, changed = bnx.accuracy_in_train_mode(model, x, y, batch_size=4)
    assert changed and 0.0 <= acc <= 1.0
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert not model.training
    # one batch holding all the data: the same as normalizing with the batch's own statistics
    with torch.no_grad():
        full = (model.train()(x).argmax(1) == y).float().mean().item()
    model.load_state_dict(before)
    assert bnx.accuracy_in_train_mode(model, x, y, batch_size=12)[0] == pytest.approx(full)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        bnx.accuracy_in_train_mode(model, x, y, batch_size=0)


def test_norm_batch_sweep_pairs_seeds_and_scales_the_rate():
    d = bnx.downsample(fake_data(n=40))
    made = []

    def make(norm):
        made.append(norm)
        return bnx.SmallConvNet("before", widths=(4, 4), norm=norm, groups=2)

    out = bnx.norm_batch_sweep(make, d, batch_sizes=(2, 8), seeds=2, images=16, lr=0.05)
    assert sorted(out) == [("batch", 2), ("batch", 8), ("group", 2), ("group", 8)]
    assert all(len(v) == 2 and all(0 <= a <= 1 for a in v) for v in out.values())
    assert made == ["batch"] * 4 + ["group"] * 4
    again = bnx.norm_batch_sweep(make, d, norms=("group",), batch_sizes=(2,), seeds=2, images=16)
    assert again["group", 2] == out["group", 2]
    with pytest.raises(ValueError, match="seeds must be a positive integer"):
        bnx.norm_batch_sweep(make, d, seeds=0)


def test_running_stats_ignores_copies_of_the_model():
    import copy

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    stats = bnx.RunningStats(model, momenta=(0.5,))
    model(torch.randn(4, 3))
    copy.deepcopy(model).train()(torch.randn(4, 3) + 10)
    assert stats.steps == 1
    torch.testing.assert_close(stats.mean[0.5][0], model[1].running_mean * 5)  # 0.5 vs 0.1
