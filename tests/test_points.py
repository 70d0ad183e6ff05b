"""Farthest point sampling, ball query, interpolation and augmentations against brute force."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlparts import points as P

SETTINGS = settings(max_examples=25, deadline=None)


def brute_fps(xyz, m, start):
    chosen = [start]
    for _ in range(m - 1):
        d = np.array([min(((p - xyz[c]) ** 2).sum() for c in chosen) for p in xyz])
        chosen.append(int(np.argmax(d)))
    return chosen


def brute_ball(xyz, c, r, k):
    inside = [i for i, p in enumerate(xyz) if ((p - c) ** 2).sum() < r * r]
    if not inside:
        inside = [int(np.argmin(((xyz - c) ** 2).sum(1)))]
    inside = inside[:k]
    return inside + [inside[0]] * (k - len(inside))


@SETTINGS
@given(
    b=st.integers(1, 3),
    n=st.integers(1, 30),
    d=st.sampled_from([2, 3]),
    frac=st.floats(0.01, 1.0),
    seed=st.integers(0, 10**6),
)
def test_fps_matches_brute_force(b, n, d, frac, seed):
    rng = np.random.default_rng(seed)
    xyz = rng.normal(size=(b, n, d))
    m = max(1, int(frac * n))
    start = int(rng.integers(n))
    got = P.farthest_point_sample(torch.tensor(xyz), m, start=start)
    assert got.dtype == torch.long and got.shape == (b, m)
    for i in range(b):
        assert got[i].tolist() == brute_fps(xyz[i], m, start)


def test_fps_covers_distinct_points_and_rejects_too_many():
    xyz = torch.rand(2, 50, 3, dtype=torch.float64)
    idx = P.farthest_point_sample(xyz, 50)
    assert all(len(set(r.tolist())) == 50 for r in idx)
    with pytest.raises(ValueError, match="m must be"):
        P.farthest_point_sample(xyz, 51)
    with pytest.raises(ValueError):
        P.farthest_point_sample(xyz, 0)
    with pytest.raises(ValueError, match="start"):
        P.farthest_point_sample(xyz, 3, start=50)
    with pytest.raises(ValueError, match=r"\(B, N, D\)"):
        P.farthest_point_sample(xyz[0], 3)


@SETTINGS
@given(
    n=st.integers(1, 25),
    m=st.integers(1, 6),
    k=st.integers(1, 12),
    r=st.floats(0.05, 2.0),
    own=st.booleans(),
    seed=st.integers(0, 10**6),
)
def test_ball_query_matches_brute_force(n, m, k, r, own, seed):
    rng = np.random.default_rng(seed)
    xyz = rng.uniform(-1, 1, size=(2, n, 3))
    cen = xyz[:, rng.integers(0, n, m)] if own else rng.uniform(-1, 1, size=(2, m, 3))
    got = P.ball_query(torch.tensor(xyz), torch.tensor(cen), r, k)
    assert got.dtype == torch.long and got.shape == (2, m, k)
    for b in range(2):
        for j in range(m):
            assert got[b, j].tolist() == brute_ball(xyz[b], cen[b, j], r, k)


def test_ball_query_bad_arguments():
    xyz = torch.rand(1, 10, 3)
    with pytest.raises(ValueError, match="radius"):
        P.ball_query(xyz, xyz, 0.0, 4)
    with pytest.raises(ValueError, match="k must"):
        P.ball_query(xyz, xyz, 0.1, 0)


def test_index_points_and_interpolate():
    torch.manual_seed(0)
    xyz = torch.rand(2, 20, 3, dtype=torch.float64)
    feats = torch.randn(2, 20, 5, dtype=torch.float64)
    idx = torch.randint(0, 20, (2, 4, 3))
    g = P.index_points(feats, idx)
    assert g.shape == (2, 4, 3, 5)
    assert torch.equal(g[1, 2, 0], feats[1, idx[1, 2, 0]])
    # known points get their own features back; others a convex combination of 3 neighbours
    assert torch.allclose(P.interpolate(xyz, xyz, feats), feats, atol=1e-6)
    q = torch.rand(2, 7, 3, dtype=torch.float64)
    out = P.interpolate(q, xyz, feats)
    d = ((q[:, :, None] - xyz[:, None]) ** 2).sum(-1)
    dd, nn_idx = d.sort(-1)
    w = 1 / dd[..., :3]
    w = w / w.sum(-1, keepdim=True)
    ref = (P.index_points(feats, nn_idx[..., :3]) * w[..., None]).sum(-2)
    assert torch.allclose(out, ref)


def test_augmentations_keep_shapes_and_meaning():
    g = torch.Generator().manual_seed(0)
    x = P.normalize_unit_sphere(torch.randn(4, 64, 3))
    assert torch.allclose(x.norm(dim=-1).amax(1), torch.ones(4))
    r = P.random_rotate_z(x, generator=g)
    assert torch.allclose(r.norm(dim=-1), x.norm(dim=-1), atol=1e-5)
    assert torch.allclose(r[..., 2], x[..., 2])
    dp = P.random_input_dropout(x, generator=g)
    assert dp.shape == x.shape
    same = (dp == x).all(-1) | (dp == x[:, :1]).all(-1)
    assert same.all()
    assert P.drop_points(x, 10, generator=g).shape == (4, 10, 3)
    assert P.drop_points(x, 10, generator=g, mode="nearest").shape == (4, 10, 3)
    o = P.add_outliers(x, 5, generator=g)
    assert int((o != x).any(-1).sum()) == 20
    with pytest.raises(ValueError):
        P.drop_points(x, 65)
