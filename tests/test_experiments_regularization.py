"""Chapter 4's experiment helpers: parameter groups, the training loop, unit ablation, SGDW."""

import numpy as np
import pytest
import torch

from dlparts.experiments.regularization import (
    ablation_curve,
    accuracy,
    last_hidden,
    param_groups,
    run_configs,
    sgdw_step_equals_l2,
    silence_units,
    train_mlp,
    unit_ablation,
)
from dlparts.models import mlp


def tiny_data(n=60, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(3 * n, 1, 28, 28, generator=g)
    y = (x.flatten(1)[:, :392].sum(1) > x.flatten(1)[:, 392:].sum(1)).long()
    return {
        "x_train": x[:n],
        "y_train": y[:n],
        "x_val": x[n : 2 * n],
        "y_val": y[n : 2 * n],
        "x_test": x[2 * n :],
        "y_test": y[2 * n :],
    }


def test_param_groups_exclude_biases():
    net = mlp((8,), in_features=784, num_classes=3)
    ws, bs = param_groups(net, 0.1)
    assert ws["weight_decay"] == 0.1 and bs["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in ws["params"]) and all(p.ndim == 1 for p in bs["params"])
    assert len(ws["params"]) + len(bs["params"]) == len(list(net.parameters()))


def test_weight_decay_shrinks_the_weights():
    d = tiny_data()
    r0 = train_mlp(d, hidden=(8,), epochs=2, weight_decay=0.0, seed=0)
    r1 = train_mlp(d, hidden=(8,), epochs=2, weight_decay=5.0, seed=0)
    w0 = sum(float((p.detach() ** 2).sum()) for p in r0.model.parameters() if p.ndim >= 2)
    w1 = sum(float((p.detach() ** 2).sum()) for p in r1.model.parameters() if p.ndim >= 2)
    assert w1 < 0.5 * w0


def test_train_mlp_repeats_and_seeds_differ():
    d = tiny_data()
    a = train_mlp(d, hidden=(16,), epochs=3, seed=1, curve_every=1)
    b = train_mlp(d, hidden=(16,), epochs=3, seed=1, curve_every=1)
    c = train_mlp(d, hidden=(16,), epochs=3, seed=2)
    assert a.train_curve == b.train_curve and a.test_acc == b.test_acc
    assert len(a.train_curve) == 3 and a.gap == pytest.approx(a.train_acc - a.val_acc)
    pa = torch.cat([p.flatten() for p in a.model.parameters()])
    pc = torch.cat([p.flatten() for p in c.model.parameters()])
    assert not torch.equal(pa, pc)


def test_train_mlp_fits_small_set():
    d = tiny_data(n=40)
    r = train_mlp(d, hidden=(64,), epochs=80, lr=0.1, batch_size=20)
    assert r.train_acc == 1.0


def test_train_mlp_bad_arguments():
    with pytest.raises(ValueError, match="epochs"):
        train_mlp(tiny_data(), epochs=0)


def test_accuracy_empty_is_nan():
    net = mlp((4,), in_features=784, num_classes=2)
    assert np.isnan(accuracy(net, torch.zeros(0, 784), torch.zeros(0, dtype=torch.long)))


def test_run_configs_pairs_seeds_and_keeps_models():
    d = tiny_data()
    out = run_configs(lambda s: d, {"a": {}, "b": {"p_hidden": 0.5}}, [0, 1], hidden=(8,), epochs=1)
    assert [len(v) for v in out.values()] == [2, 2]
    assert out["a"][0].model is not None and out["a"][1].model is None
    kept = run_configs(lambda s: d, {"a": {}}, [0, 1], keep_models=True, hidden=(8,), epochs=1)
    assert kept["a"][1].model is not None


def test_unit_ablation_matches_silencing_one_at_a_time():
    torch.manual_seed(0)
    net = mlp((6, 5), in_features=784, num_classes=3).eval()
    x, y = torch.rand(50, 784), torch.randint(0, 3, (50,))
    drops = unit_ablation(net, x, y)
    full = silence_units(net, x, y, [])
    expect = [full - silence_units(net, x, y, [k]) for k in range(5)]
    np.testing.assert_allclose(drops, expect, atol=1e-6)
    h, out = last_hidden(net, x)
    assert h.shape == (50, 5) and out.out_features == 3


def test_ablation_curve_counts_and_full_removal():
    torch.manual_seed(0)
    net = mlp((8,), in_features=784, num_classes=3).eval()
    x, y = torch.rand(40, 784), torch.randint(0, 3, (40,))
    curve = ablation_curve(net, (x, y), (x, y), (0, 1, 8))
    assert set(curve) == {0, 1, 8} and curve[0] == 0.0
    # all units silenced: the net predicts from its output bias alone
    bias_pred = net[-1].bias.argmax()
    full = silence_units(net, x, y, [])
    assert curve[8] == pytest.approx(full - float((y == bias_pred).float().mean()))


def test_sgdw_equals_l2_only_without_momentum():
    assert sgdw_step_equals_l2(momentum=0.0) < 1e-6
    assert sgdw_step_equals_l2(momentum=0.9) > 1e-3


def test_run_configs_builds_a_seeded_augmentation():
    d = tiny_data()
    a = run_configs(lambda s: d, {"aug": {"augment": True}}, [3], hidden=(8,), epochs=1)
    b = run_configs(lambda s: d, {"aug": {"augment": True}}, [3], hidden=(8,), epochs=1)
    c = run_configs(lambda s: d, {"plain": {}}, [3], hidden=(8,), epochs=1)
    wa, wb, wc = (
        torch.cat([p.flatten() for p in r[k][0].model.parameters()])
        for r, k in ((a, "aug"), (b, "aug"), (c, "plain"))
    )
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_generalization_gap_reads_the_last_epoch_and_refuses_runs_without_it():
    from types import SimpleNamespace

    from dlparts.experiments.regularization import generalization_gap

    hist = SimpleNamespace(train_eval_acc=[0.8, 0.99], val_acc=[0.7, 0.9])
    tr, va, gap = generalization_gap(hist)
    assert (tr, va) == (0.99, 0.9) and gap == pytest.approx(0.09)
    with pytest.raises(ValueError, match="eval_train=True"):
        generalization_gap(SimpleNamespace(train_eval_acc=[], val_acc=[0.5]))
