import math

import numpy as np
import pytest
import torch

from dlparts.experiments import resnet as rx


def test_digits_subset_is_fixed_and_pooled():
    x, y = rx.digits_subset(64)
    x2, y2 = rx.digits_subset(64)
    assert x.shape == (64, 1, 14, 14) and y.shape == (64,)
    assert torch.equal(x, x2) and torch.equal(y, y2)


def test_build_plain_and_residual_have_the_same_parameters():
    p, r = rx.build("plain", 14, width=2), rx.build("residual", 14, width=2)
    assert sum(t.numel() for t in p.parameters()) == sum(t.numel() for t in r.parameters())
    with pytest.raises(ValueError, match="kind"):
        rx.build("dense", 8)


def test_train_one_records_steps_and_drops_the_rate():
    x, y = rx.digits_subset(32)
    run = rx.train_one(
        "residual", 8, x, y, width=2, epochs=4, batch_size=16, seed=0, progress=False
    )
    assert len(run["loss"]) == len(run["err"]) == 8
    assert run["milestone_steps"] == [6]  # after 3 of 4 epochs, 2 steps each
    assert 0 <= run["final_err"] <= 1 and run["final_loss"] > 0
    assert isinstance(run["model"], torch.nn.Module)
    again = rx.train_one(
        "residual", 8, x, y, width=2, epochs=4, batch_size=16, seed=0, progress=False
    )
    assert run["final_loss"] == pytest.approx(again["final_loss"])


def test_sweep_and_final_losses_in_seed_order():
    x, y = rx.digits_subset(16)
    runs = rx.degradation_sweep(
        x, y, (8,), seeds=(1, 0), width=2, epochs=1, batch_size=16, progress=False
    )
    assert set(runs) == {(k, 8, s) for k in rx.KINDS for s in (0, 1)}
    vals = rx.final_losses(runs, "plain", 8)
    assert vals == [runs[("plain", 8, 0)]["final_loss"], runs[("plain", 8, 1)]["final_loss"]]
    steps, mean, lo, hi = rx.curve_band(runs, "plain", 8, window=1)
    assert len(steps) == len(mean) == 1 and lo[0] <= mean[0] <= hi[0]


def test_log10_and_smooth():
    assert rx.log10([10.0, 0.01]) == pytest.approx([1.0, -2.0])
    assert np.allclose(rx.smooth([1, 2, 3, 4], 2), [1.5, 2.5, 3.5])
    assert np.allclose(rx.smooth([1, 2], 5), [1, 2])


def test_gradient_norms_and_imbalance():
    x, y = rx.digits_subset(16)
    model = rx.build("plain", 8, width=2)
    g = rx.conv_grad_norms(model, x, y)
    assert len(g) == 7 and all(v > 0 for v in g)  # stem + 3 blocks × 2
    assert rx.imbalance([10.0, 1.0, 1.0]) == pytest.approx(1.0)
    assert rx.imbalance([1.0, 100.0]) == pytest.approx(2.0)
    assert math.isfinite(rx.imbalance(g))


def test_digits_test_is_the_fixed_pooled_test_set():
    x, y = rx.digits_test(50)
    assert x.shape == (50, 1, 14, 14) and y.shape == (50,)
    assert torch.equal(x, rx.digits_test(50)[0])


def test_build_passes_block_and_zero_gamma_and_refuses_them_for_plain():
    net = rx.build("residual", 8, width=2, block="preact", zero_init_residual=True)
    assert isinstance(net.stage1[0], rx.models.PreActBlock)
    assert float(net.stage1[0].bn2.weight.detach().abs().sum()) == 0
    with pytest.raises(ValueError, match="plain"):
        rx.build("plain", 8, block="preact")


def test_block_output_stds_grow_with_gamma_one_and_not_with_zero():
    x, _ = rx.digits_subset(64)
    torch.manual_seed(0)
    one = rx.block_output_stds(rx.build("residual", 20, width=4), x)
    zero = rx.block_output_stds(rx.build("residual", 20, width=4, zero_init_residual=True), x)
    assert len(one) == len(zero) == 9
    assert one[2] > one[0]
    assert zero[0] == pytest.approx(zero[1]) == pytest.approx(zero[2])
    with pytest.raises(ValueError, match="residual blocks"):
        rx.block_output_stds(torch.nn.Sequential(torch.nn.Flatten()), x)


def test_crop_eval_center_matches_evaluate_and_averages_ten():
    x, y = rx.digits_subset(40)
    run = rx.train_one(
        "residual", 8, x, y, width=2, epochs=1, batch_size=20, crop=12, progress=False
    )
    out = rx.crop_eval(run["model"], x, y, 12)
    assert set(out) == {f"{a}_{b}" for a in ("center", "five", "ten") for b in ("err", "nll")}
    assert out["center_err"] == pytest.approx(run["final_err"])
    assert all(0 <= out[k] <= 1 for k in ("center_err", "five_err", "ten_err"))
    assert all(out[k] > 0 for k in ("center_nll", "five_nll", "ten_nll"))
