"""The ReLU-against-tanh race: steps to a target error, learning-rate choice, plain nets."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from dlparts.experiments.alexnet_relu import Race, plain_cnn, race, steps_to_error


def toy_data(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 4, 4, generator=g)
    y = (x.flatten(1).sum(1) > 0).long()
    return x, y


def linear(_act="relu"):
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 2))


def test_steps_to_error_reaches_an_easy_target_and_is_repeatable():
    x, y = toy_data()
    torch.manual_seed(0)
    s1, e1 = steps_to_error(linear(), x, y, lr=0.5, target=0.25, max_steps=300, seed=3)
    torch.manual_seed(0)
    s2, e2 = steps_to_error(linear(), x, y, lr=0.5, target=0.25, max_steps=300, seed=3)
    assert s1 is not None and s1 == s2
    assert len(e1) == s1 and np.array_equal(e1, e2)
    assert e1[-20:].mean() <= 0.25


def test_steps_to_error_reports_none_when_not_reached():
    x, y = toy_data()
    s, e = steps_to_error(linear(), x, y, lr=0.0, target=0.01, max_steps=40)
    assert s is None and len(e) == 40


def test_steps_to_error_stops_on_divergence():
    x, y = toy_data()
    s, e = steps_to_error(linear(), x * 1e30, y, lr=1e30, target=0.01, max_steps=50)
    assert s is None and len(e) < 50


@pytest.mark.parametrize("kw", [dict(target=0.0), dict(target=1.0), dict(max_steps=5)])
def test_steps_to_error_rejects_bad_arguments(kw):
    x, y = toy_data()
    with pytest.raises(ValueError):
        steps_to_error(linear(), x, y, lr=0.1, **kw)


def test_race_picks_the_fastest_rate_and_ratio():
    r = Race(
        steps={"relu": {0.1: [10, 12], 0.3: [None, 5]}, "tanh": {0.1: [22, 22], 0.3: [30, 34]}},
        max_steps=50,
        seeds=(0, 1),
    )
    assert r.best_lr("relu") == 0.1  # 0.3 missed on one seed
    assert r.best("tanh") == [22, 22]
    assert r.ratio("tanh", "relu") == pytest.approx(2.0)
    assert r.reached("relu")
    never = Race({"relu": {0.1: [None]}, "tanh": {0.1: [3]}}, 10, (0,))
    assert never.ratio("tanh", "relu") == 0.0 and not never.reached("relu")
    assert math.isnan(Race({"relu": {0.1: [None]}, "tanh": {0.1: [None]}}, 10, (0,)).ratio())


def test_race_runs_every_activation_rate_and_seed():
    x, y = toy_data()
    r = race(linear, x, y, rates={"relu": [0.1, 0.5], "tanh": [0.5]}, seeds=(0, 1), max_steps=60)
    assert set(r.steps) == {"relu", "tanh"} and set(r.steps["relu"]) == {0.1, 0.5}
    assert all(len(v) == 2 for d in r.steps.values() for v in d.values())


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid"])
def test_plain_cnn_shape_and_init(act):
    net = plain_cnn(act, depth=3, width=4, input_size=8)
    assert net(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    convs = [m for m in net if isinstance(m, nn.Conv2d)]
    assert len(convs) == 3 and all(float(c.bias.detach().abs().max()) == 0 for c in convs)


def test_plain_cnn_rejects_bad_arguments():
    with pytest.raises(ValueError):
        plain_cnn("gelu", 2)
    with pytest.raises(ValueError):
        plain_cnn("relu", 0)
    with pytest.raises(ValueError):
        plain_cnn("relu", 2, input_size=7)


def test_race_merged_adds_an_activation_and_refuses_mismatches():
    a = Race({"relu": {0.1: [10, 12]}}, 50, (0, 1))
    b = Race({"abstanh": {0.1: [20, 30]}}, 50, (0, 1))
    m = a.merged(b)
    assert set(m.steps) == {"relu", "abstanh"}
    assert m.ratio("abstanh", "relu") == pytest.approx(25 / 11)
    with pytest.raises(ValueError, match="same seeds"):
        a.merged(Race({"tanh": {0.1: [1]}}, 50, (0,)))
    with pytest.raises(ValueError, match="same seeds"):
        a.merged(Race({"tanh": {0.1: [1, 2]}}, 60, (0, 1)))
    with pytest.raises(ValueError, match="in both"):
        a.merged(a)


def test_race_skip_after_failure_keeps_the_choice_and_skips_runs():
    x, y = toy_data()
    calls = []

    def build(act):
        calls.append(act)
        return linear(act)

    # lr 1e-6 never reaches the target: with skipping, only its first seed is run
    full = race(build, x, y, rates={"relu": [1e-6, 0.5]}, seeds=(0, 1, 2), max_steps=40)
    n_full = len(calls)
    calls.clear()
    skip = race(
        build, x, y, rates={"relu": [1e-6, 0.5]}, seeds=(0, 1, 2), max_steps=40,
        skip_after_failure=True,
    )  # fmt: skip
    assert n_full == 6 and len(calls) == 4
    assert skip.steps["relu"][1e-6] == [None, None, None]
    assert skip.steps["relu"][0.5] == full.steps["relu"][0.5]
    assert skip.best_lr("relu") == full.best_lr("relu") == 0.5
