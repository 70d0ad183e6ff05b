"""Multi-resolution grouping (PointNet++ Section 3.3): SetAbstractionMRG and the MRG networks."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlparts.arith import count_params
from dlparts.models import PointNet2Cls, PointNet2Seg, SetAbstraction, SetAbstractionMRG

SMALL2 = dict(
    npoints=(16, 8),
    radii=(0.3, 0.6),
    nsamples=(8, 8),
    mlps=((8, 16), (16, 32)),
    global_mlp=(32, 64),
    fc=(32,),
)
MRG = dict(SMALL2, raw_nsamples=(None, 12), raw_mlps=(None, (8, 24)), raw_global_mlp=(8, 16))


def trained_like(model, x):
    """Put batch-norm running statistics away from their defaults, then switch to eval."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x)
    return model.eval()


def test_level_concatenates_the_sub_region_summary_and_the_raw_point_pointnet():
    torch.manual_seed(0)
    raw = torch.randn(2, 40, 3)
    below = SetAbstraction(16, 0.5, 8, 0, (8, 16)).eval()
    xyz, feats = below(raw)
    level = SetAbstractionMRG(6, 0.8, 8, 16, (16, 32), 10, (8, 24)).eval()
    assert level.out_channels == 32 + 24
    new_xyz, f = level(xyz, feats, raw)
    assert new_xyz.shape == (2, 6, 3) and f.shape == (2, 6, 56)
    # vector (a) is exactly the plain set abstraction of the level below with the same weights
    plain = SetAbstraction(6, 0.8, 8, 16, (16, 32)).eval()
    plain.mlp.load_state_dict(level.mlp.state_dict())
    xyz_a, a = plain(xyz, feats)
    assert torch.equal(xyz_a, new_xyz)
    torch.testing.assert_close(f[..., :32], a)
    # vector (b) reads only the raw points: moving the level below's features leaves it unchanged
    _, f2 = level(xyz, feats + 1.0, raw)
    torch.testing.assert_close(f2[..., 32:], f[..., 32:])
    assert not torch.allclose(f2[..., :32], f[..., :32])
    # and it does react to the raw points of the region
    _, f3 = level(xyz, feats, raw + 0.05 * torch.randn_like(raw))
    assert not torch.allclose(f3[..., 32:], f[..., 32:])


@settings(max_examples=10, deadline=None)
@given(b=st.integers(1, 3), n=st.integers(4, 40), m=st.integers(1, 12), seed=st.integers(0, 999))
def test_group_all_level_is_permutation_invariant(b, n, m, seed):
    torch.manual_seed(seed)
    level = trained_like_level(
        SetAbstractionMRG(None, None, None, 5, (8, 16), None, (8,), group_all=True)
    )
    raw, xyz, feats = torch.randn(b, n, 3), torch.randn(b, m, 3), torch.randn(b, m, 5)
    _, f = level(xyz, feats, raw)
    assert f.shape == (b, 1, 24)
    pr, pm = torch.randperm(n), torch.randperm(m)
    _, fp = level(xyz[:, pm], feats[:, pm], raw[:, pr])
    torch.testing.assert_close(fp, f, atol=1e-5, rtol=1e-5)


def trained_like_level(level):
    level.train()
    with torch.no_grad():
        level(torch.randn(4, 6, 3), torch.randn(4, 6, level.in_channels), torch.randn(4, 20, 3))
    return level.eval()


@settings(max_examples=10, deadline=None)
@given(b=st.integers(1, 3), n=st.integers(10, 40), seed=st.integers(0, 999))
def test_mrg_network_is_invariant_to_orders_that_keep_its_samples(b, n, seed):
    """FPS starts at point 0 and ball query takes the first k points of a ball: with point 0 kept
    first and every ball holding fewer than k points, a reordering changes no centroid and no
    group, so the output must not move (the set functions themselves are symmetric)."""
    torch.manual_seed(seed)
    kw = dict(MRG, nsamples=(64, 64), raw_nsamples=(None, 64), fewer_points="all")
    m = trained_like(PointNet2Cls(4, mrg=True, **kw), torch.randn(4, 40, 3))
    x = torch.randn(b, n, 3)
    perm = torch.cat([torch.zeros(1, dtype=torch.long), 1 + torch.randperm(n - 1)])
    with torch.no_grad():
        out, out_p = m(x), m(x[:, perm])
    assert out.shape == (b, 4)
    torch.testing.assert_close(out_p, out, atol=1e-4, rtol=1e-4)


def test_mrg_classifier_builds_the_paper_layout_and_trains():
    torch.manual_seed(0)
    m = PointNet2Cls(6, mrg=True, **MRG)
    assert type(m.levels[0]) is SetAbstraction  # the first level's level below is the raw input
    assert isinstance(m.levels[1], SetAbstractionMRG) and m.levels[1].raw_nsample == 12
    assert m.levels[1].out_channels == 32 + 24
    assert m.global_sa.group_all and m.global_sa.out_channels == 64 + 16
    x = torch.randn(3, 40, 3)
    out = m(x)
    assert out.shape == (3, 6)
    out.sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    # the defaults take each level's own widths for its raw-point PointNet
    d = PointNet2Cls(6, mrg=True, **SMALL2)
    assert d.levels[1].raw_nsample == 8 and d.global_sa.out_channels == 128
    assert count_params(d) > count_params(PointNet2Cls(6, **SMALL2))
    assert PointNet2Cls(10, in_dim=2, mrg=True, **MRG)(torch.randn(2, 30, 2)).shape == (2, 10)


def test_mrg_segmentation_shapes():
    s = PointNet2Seg(
        7,
        mrg=True,
        npoints=(16, 8),
        nsamples=(8, 8),
        mlps=((8, 16), (16, 32)),
        global_mlp=(32,),
        raw_global_mlp=(8,),
        fp_mlps=((32,), (32,), (16,)),
    )
    assert s.fps[0].in_channels == (32 + 8) + (32 + 32)  # group all, then level 2 (a) + (b)
    assert s(torch.randn(2, 40, 3)).shape == (2, 7, 40)


def test_sparser_sets_than_the_centroids():
    x = torch.randn(2, 10, 3)
    with pytest.raises(ValueError, match="npoint"):
        PointNet2Cls(3, mrg=True, **MRG)(x)
    assert PointNet2Cls(3, mrg=True, **MRG, fewer_points="all").eval()(x).shape == (2, 3)


def test_bad_input():
    level = SetAbstractionMRG(4, 0.5, 4, 6, (8,), 4, (8,))
    xyz, feats, raw = torch.randn(2, 8, 3), torch.randn(2, 8, 6), torch.randn(2, 20, 3)
    with pytest.raises(ValueError, match="raw_xyz"):
        level(xyz, feats)
    with pytest.raises(ValueError, match="channels-first"):
        level(xyz, feats, raw.transpose(1, 2))
    with pytest.raises(ValueError, match="batch size"):
        level(xyz, feats, raw[:1])
    bad = raw.clone()
    bad[0, 3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        level(xyz, feats, bad)
    with pytest.raises(ValueError, match="expects per-point features"):
        level(xyz, None, raw)
    with pytest.raises(ValueError, match="raw_nsample"):
        SetAbstractionMRG(4, 0.5, 4, 6, (8,), 0, (8,))
    with pytest.raises(ValueError, match="raw_mlp"):
        SetAbstractionMRG(4, 0.5, 4, 6, (8,), 4, ())
    with pytest.raises(ValueError, match="not both"):
        PointNet2Cls(3, msg=True, mrg=True, **SMALL2)
    with pytest.raises(ValueError, match="mrg=True"):
        PointNet2Cls(3, raw_global_mlp=(8,), **SMALL2)
    with pytest.raises(ValueError, match="one entry per set abstraction level"):
        PointNet2Cls(3, mrg=True, raw_nsamples=(8,), **SMALL2)
    with pytest.raises(ValueError, match="no points"):
        PointNet2Cls(3, mrg=True, **MRG)(torch.zeros(1, 0, 3))


def test_existing_positional_signature_is_unchanged():
    m = PointNet2Cls(5, 3, False, (16, 8), (0.3, 0.6), (8, 8), ((8,), (16,)), (32,), (16,), 0.0)
    assert not any(isinstance(lv, SetAbstractionMRG) for lv in m.levels)
    assert m(torch.randn(2, 20, 3)).shape == (2, 5)
