"""dlparts.experiments.pointnet2: configs, training loop, density tests, permutation check."""

import pytest
import torch

from dlparts.data import shapes_split
from dlparts.experiments import pointnet2 as E


@pytest.fixture(scope="module")
def tiny():
    return shapes_split(n_train_per_class=2, n_test_per_class=1, n_points=32, seed=0)


@pytest.mark.parametrize("arch", ["pointnet", "ssg", "msg", "mrg"])
def test_make_model_outputs_logits(arch):
    model = E.make_model(arch, 12).eval()
    assert model(torch.randn(3, 64, 3)).shape == (3, 12)


def test_make_model_rejects_unknown():
    with pytest.raises(ValueError, match="arch"):
        E.make_model("dgcnn", 12)


def test_every_variant_has_a_model_and_transform():
    for arch, transform in E.VARIANTS.values():
        E.make_model(arch, 4)
        x = torch.randn(2, 16, 3)
        assert transform(x).shape == x.shape


def test_train_variant_is_repeatable_and_records_a_curve(tiny):
    m1, h1 = E.train_variant("PointNet++ SSG", tiny, steps=3, seed=1, eval_every=1)
    m2, h2 = E.train_variant("PointNet++ SSG", tiny, steps=3, seed=1)
    assert len(h1.loss) == 3 and h1.loss == h2.loss
    assert len(h1.val_acc) == 3 and not m1.training
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)


def test_train_variant_rejects_bad_arguments(tiny):
    with pytest.raises(ValueError, match="variant"):
        E.train_variant("PointNet+++", tiny, steps=1)
    with pytest.raises(ValueError, match="steps"):
        E.train_variant("PointNet", tiny, steps=0)


def test_density_gradient_keeps_shape_and_thins_one_side():
    torch.manual_seed(0)
    x = torch.randn(4, 400, 3)
    g = E.density_gradient(x, floor=0.0, generator=torch.Generator().manual_seed(0))
    assert g.shape == x.shape
    kept = (g == x).all(-1)
    frac = kept.float().mean(1)
    assert ((frac > 0.3) & (frac < 0.7)).all()  # about half kept on average
    # every dropped point is a copy of a kept one
    for b in range(4):
        assert (g[b][~kept[b]] == g[b][~kept[b]][:1]).all()


def test_density_gradient_rejects_bad_floor():
    with pytest.raises(ValueError, match="floor"):
        E.density_gradient(torch.randn(1, 8, 3), floor=1.5)


def test_density_tests_names_and_shapes():
    x = torch.randn(5, 32, 3)
    tests = E.density_tests(x, [32, 16, 8])
    assert list(tests) == ["32 points", "16 points", "8 points", "density gradient"]
    assert tests["8 points"].shape == (5, 8, 3)
    assert tests["density gradient"].shape == x.shape
    again = E.density_tests(x, [32, 16, 8])
    assert all(torch.equal(tests[k], again[k]) for k in tests)


def test_run_variants_and_table(tiny):
    tests = E.density_tests(tiny["x_test"], [32, 8])
    res = E.run_variants(["PointNet"], tiny, seeds=(0, 1), steps=2, tests=tests, curve_every=1)
    rec = res["PointNet"]
    assert len(rec["models"]) == 2 and len(rec["acc"]["8 points"]) == 2
    assert rec["hists"][0].val_acc and not rec["hists"][1].val_acc
    rows = E.accuracy_table(res, tests)
    assert rows[0]["network"] == "PointNet" and "±" in rows[0]["32 points"]


def test_permutation_change_pointnet_is_exact_and_ssg_is_not():
    torch.manual_seed(0)
    x = torch.randn(6, 64, 3)
    pn = E.make_model("pointnet", 5)
    ssg = E.make_model("ssg", 5)
    for m in (pn, ssg):  # move batch-norm statistics off their defaults, then evaluate
        m.train()
        with torch.no_grad():
            m(x)
    assert E.permutation_change(pn, x)["max logit change"] < 1e-4
    out = E.permutation_change(ssg, x)
    assert out["max logit change"] > 0 and 0 <= out["changed"] <= 1


def test_forward_seconds_positive():
    assert E.forward_seconds(E.make_model("ssg", 3), torch.randn(2, 32, 3), repeats=2) > 0


def test_ssg_and_msg_accept_sets_sparser_than_their_centroids():
    x = torch.randn(2, 16, 3)  # the density tests go down to 16 points; SSG has 32 centroids
    for arch in ("ssg", "msg"):
        assert E.make_model(arch, 4).eval()(x).shape == (2, 4)


def test_experiment_arguments_are_checked(tiny):
    with pytest.raises(ValueError, match="steps"):
        E.train_variant("PointNet", tiny, steps=2.0)
    with pytest.raises(ValueError, match="floor"):
        E.density_gradient(torch.randn(1, 8, 3), floor=True)
    with pytest.raises(ValueError, match="no points"):
        E.density_gradient(torch.zeros(1, 0, 3))
    with pytest.raises(ValueError, match="counts"):
        E.density_tests(torch.randn(2, 8, 3), [4, 0])


def test_variants_keep_the_four_networks_and_mrg_trains_apart(tiny):
    assert list(E.VARIANTS) == [
        "PointNet",
        "PointNet++ SSG",
        "PointNet++ SSG + DP",
        "PointNet++ MSG + DP",
    ]
    (name,) = E.MRG_VARIANTS
    model, hist = E.train_variant(name, tiny, steps=2, seed=0)
    assert len(hist.loss) == 2 and not model.training
    assert model.global_sa.out_channels == E.MRG["global_mlp"][-1] + E.MRG["raw_global_mlp"][-1]


def test_multiply_adds_by_level_follow_the_formula():
    ssg = E.multiply_adds(E.make_model("ssg", 12), 128)
    # level 1: 32 centroids x 8 neighbours x the mini-PointNet (3 -> 16 -> 16 -> 32) per point
    assert ssg["level 1"] == 32 * 8 * (3 * 16 + 16 * 16 + 16 * 32)
    assert ssg["total"] == sum(v for k, v in ssg.items() if k != "total")
    mrg = E.multiply_adds(E.make_model("mrg", 12), 128)
    msg = E.multiply_adds(E.make_model("msg", 12), 128)
    assert mrg["level 1"] == ssg["level 1"] < msg["level 1"]
    # MRG's second level adds the raw-point PointNet: 8 centroids x 16 raw points x (3->16->16->32)
    assert mrg["level 2"] - ssg["level 2"] == 8 * 16 * (3 * 16 + 16 * 16 + 16 * 32)
    assert ssg["total"] < mrg["total"] < msg["total"]
    assert set(E.multiply_adds(E.make_model("pointnet", 12), 64)) == {"total"}


def test_multiply_adds_rejects_bad_sizes():
    with pytest.raises(ValueError, match="n_points"):
        E.multiply_adds(E.make_model("ssg", 3), 0)
