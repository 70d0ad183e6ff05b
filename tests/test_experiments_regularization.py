"""Chapter 4's experiment helpers: parameter groups, the training loop (max-norm, early stopping,
the forgotten train mode), unit ablation, bagging, SGDW."""

import numpy as np
import pytest
import torch

from dlparts.experiments.regularization import (
    ablation_curve,
    accuracy,
    add_max_norm,
    bootstrap,
    ensemble_curve,
    ensemble_probs,
    last_hidden,
    max_norm_,
    param_groups,
    run_configs,
    silence_units,
    train_mlp,
    unit_ablation,
    unit_norms,
    weight_norm,
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


# --------------------------------------------------------------------------- max-norm


def test_max_norm_projects_only_the_rows_outside_the_ball():
    w = torch.tensor([[3.0, 4.0], [0.3, 0.4], [0.0, 10.0]])  # norms 5, 0.5, 10
    n = max_norm_(w, 2.0)
    assert n == 2
    torch.testing.assert_close(w.norm(dim=1), torch.tensor([2.0, 0.5, 2.0]))
    # directions are kept, and the row inside the ball is untouched
    torch.testing.assert_close(w[0], torch.tensor([1.2, 1.6]))
    torch.testing.assert_close(w[1], torch.tensor([0.3, 0.4]))
    assert max_norm_(w, 2.0) == 0  # already feasible: a second projection changes nothing


def test_max_norm_matches_torch_renorm_on_a_conv_kernel():
    conv = torch.nn.Conv2d(3, 5, 3)
    with torch.no_grad():
        conv.weight.mul_(10)
    expect = torch.renorm(conv.weight.detach().clone(), p=2, dim=0, maxnorm=1.5)
    max_norm_(conv, 1.5)
    torch.testing.assert_close(conv.weight.detach(), expect)
    assert float(conv.weight.detach().flatten(1).norm(dim=1).max()) <= 1.5 + 1e-5


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), True])
def test_max_norm_refuses_a_bad_radius(bad):
    with pytest.raises(ValueError, match="c must be"):
        max_norm_(torch.ones(2, 2), bad)


def test_max_norm_refuses_biases_and_nothing():
    with pytest.raises(ValueError, match="not their biases"):
        max_norm_(torch.ones(4), 1.0)
    with pytest.raises(ValueError, match="no weights"):
        max_norm_([], 1.0)


def test_add_max_norm_applies_after_every_step_and_can_be_removed():
    lin = torch.nn.Linear(4, 3)
    opt = torch.optim.SGD(lin.parameters(), lr=10.0)
    handle = add_max_norm(opt, lin, 0.5)
    for _ in range(3):
        opt.zero_grad()
        (lin(torch.randn(8, 4)) ** 2).sum().neg().backward()  # a step that grows the weights
        opt.step()
        assert float(lin.weight.detach().norm(dim=1).max()) <= 0.5 + 1e-6
    handle.remove()
    opt.zero_grad()
    (lin(torch.randn(8, 4)) ** 2).sum().neg().backward()
    opt.step()
    assert float(lin.weight.detach().norm(dim=1).max()) > 0.5


def test_train_mlp_max_norm_bounds_the_hidden_units_only():
    d = tiny_data()
    r = train_mlp(d, hidden=(16,), epochs=3, lr=0.5, max_norm=0.3, seed=0)
    free = train_mlp(d, hidden=(16,), epochs=3, lr=0.5, seed=0)
    assert float(unit_norms(r.model).max()) <= 0.3 + 1e-5
    assert float(unit_norms(free.model).max()) > 0.3
    assert len(unit_norms(r.model)) == 16 and len(unit_norms(r.model, hidden_only=False)) == 16 + 10


# --------------------------------------------------------------------------- early stopping


def test_early_stopping_returns_the_best_epoch_of_the_same_trajectory():
    d = tiny_data()
    full = train_mlp(d, hidden=(32,), epochs=12, lr=0.1, batch_size=20, curve_every=1)
    es = train_mlp(
        d, hidden=(32,), epochs=12, lr=0.1, batch_size=20, early_stopping=100, monitor="val_acc"
    )
    # patience longer than the run: it trains every epoch and returns the best one
    assert es.epochs_run == 12 and len(es.monitor_curve) == 12 and not es.val_loss_curve
    assert len(full.val_loss_curve) == 12
    best = int(np.argmax(full.val_curve)) + 1  # first epoch with the highest val accuracy
    assert es.best_epoch == best
    assert es.val_acc == pytest.approx(max(full.val_curve))


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    d = tiny_data()
    es = train_mlp(d, hidden=(32,), epochs=200, lr=0.2, batch_size=20, early_stopping=3)
    losses = es.monitor_curve
    assert es.epochs_run == len(losses) < 200
    assert es.best_epoch == int(np.argmin(losses)) + 1
    assert es.epochs_run == es.best_epoch + 3
    assert min(losses[es.best_epoch :]) >= losses[es.best_epoch - 1]


def test_early_stopping_bad_arguments():
    d = tiny_data()
    with pytest.raises(ValueError, match="monitor"):
        train_mlp(d, epochs=1, early_stopping=2, monitor="val_error")
    empty = {**d, "x_val": d["x_val"][:0], "y_val": d["y_val"][:0]}
    with pytest.raises(ValueError, match="validation digits"):
        train_mlp(empty, epochs=1, early_stopping=2)


def test_train_mlp_without_test_split_reports_nan():
    d = {k: v for k, v in tiny_data().items() if "test" not in k}
    r = train_mlp(d, hidden=(8,), epochs=1)
    assert np.isnan(r.test_acc) and not np.isnan(r.val_acc)


def test_train_mlp_leaves_the_global_generator_alone():
    torch.manual_seed(123)
    expect = torch.rand(3)
    torch.manual_seed(123)
    train_mlp(tiny_data(), hidden=(8,), epochs=1, p_hidden=0.5)
    torch.testing.assert_close(torch.rand(3), expect)


# --------------------------------------------------------------------------- the eval/train bug


def test_forgotten_train_mode_switches_dropout_off_after_the_first_epoch():
    d = tiny_data()
    kw = dict(hidden=(16,), lr=0.1, batch_size=20, p_hidden=0.5, seed=4)

    def weights(r):
        return torch.cat([p.detach().flatten() for p in r.model.parameters()])

    # one epoch: the bug has not bitten yet
    assert torch.equal(
        weights(train_mlp(d, epochs=1, **kw)),
        weights(train_mlp(d, epochs=1, forget_train=True, **kw)),
    )
    # later epochs run without dropout
    assert not torch.equal(
        weights(train_mlp(d, epochs=3, **kw)),
        weights(train_mlp(d, epochs=3, forget_train=True, **kw)),
    )
    # without dropout the mode changes nothing
    kw0 = {**kw, "p_hidden": 0.0}
    assert torch.equal(
        weights(train_mlp(d, epochs=3, **kw0)),
        weights(train_mlp(d, epochs=3, forget_train=True, **kw0)),
    )


# --------------------------------------------------------------------------- bagging


def test_bootstrap_resamples_with_replacement_and_keeps_the_other_splits():
    d = tiny_data(n=200)
    b = bootstrap(d, seed=1)
    assert b["x_train"].shape == d["x_train"].shape
    assert b["x_val"] is d["x_val"] and b["x_test"] is d["x_test"]
    rows = {tuple(r.tolist()) for r in b["x_train"].flatten(1)[:, :4]}
    assert 0.5 < len(rows) / 200 < 0.75  # about 63% distinct
    assert torch.equal(bootstrap(d, seed=1)["y_train"], b["y_train"])
    assert not torch.equal(bootstrap(d, seed=2)["x_train"], b["x_train"])
    with pytest.raises(ValueError, match="empty"):
        bootstrap({**d, "x_train": d["x_train"][:0], "y_train": d["y_train"][:0]}, seed=0)


def test_ensemble_probs_and_curve():
    nets = [mlp((8,), in_features=784, num_classes=3) for _ in range(3)]
    nets[0].eval()  # the others stay in training mode
    x, y = torch.rand(30, 784), torch.randint(0, 3, (30,))
    probs = ensemble_probs(nets, x, batch_size=7)
    assert probs.shape == (3, 30, 3) and nets[1].training and not nets[0].training
    torch.testing.assert_close(probs.sum(-1), torch.ones(3, 30))
    curve = ensemble_curve(probs, y)
    assert len(curve) == 3
    assert curve[0] == pytest.approx(float((probs[0].argmax(1) == y).float().mean()))
    assert curve[2] == pytest.approx(float((probs.mean(0).argmax(1) == y).float().mean()))
    np.testing.assert_allclose(ensemble_curve(probs, y, counts=[3, 1]), curve[[2, 0]])
    with pytest.raises(ValueError, match="at most 3"):
        ensemble_curve(probs, y, counts=[4])
    with pytest.raises(ValueError, match=r"\(M, N, C\)"):
        ensemble_curve(probs[0], y)


def test_weight_norm_leaves_out_biases():
    net = mlp((4,), in_features=784, num_classes=2)
    expect = sum(
        float((m.weight.detach() ** 2).sum()) for m in net if isinstance(m, torch.nn.Linear)
    )
    assert weight_norm(net) == pytest.approx(expect)
