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


# ----------------------------------------------------------------------------- chunked distances


@SETTINGS
@given(
    n=st.integers(1, 40),
    m=st.integers(0, 12),
    k=st.integers(1, 10),
    chunk=st.integers(1, 300),
    seed=st.integers(0, 10**6),
)
def test_chunked_ball_query_knn_and_distances_equal_one_shot(n, m, k, chunk, seed):
    g = torch.Generator().manual_seed(seed)
    xyz = torch.rand(2, n, 3, generator=g) * 2 - 1
    cen = torch.rand(2, m, 3, generator=g) * 2 - 1
    whole = (P.ball_query(xyz, cen, 0.5, k), P.square_distance(cen, xyz))
    knn_whole = P.knn(xyz, cen, min(k, n))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(P, "CHUNK_ELEMENTS", chunk)  # forces many small chunks
        assert torch.equal(P.ball_query(xyz, cen, 0.5, k), whole[0])
        assert torch.equal(P.square_distance(cen, xyz), whole[1])  # bit for bit
        assert torch.equal(P.knn(xyz, cen, min(k, n)), knn_whole)
    assert whole[0].shape == (2, m, k)


def test_ball_query_points_exactly_on_the_radius_are_outside(monkeypatch):
    # integer grid: every squared distance is exact, so the boundary is tested without rounding
    g = torch.arange(-3.0, 4.0)
    xyz = torch.stack(torch.meshgrid(g, g, g, indexing="ij"), -1).reshape(1, -1, 3)
    cen = torch.zeros(1, 1, 3)
    d2 = (xyz**2).sum(-1)[0]
    for chunk in (1 << 22, 7):
        monkeypatch.setattr(P, "CHUNK_ELEMENTS", chunk)
        got = P.ball_query(xyz, cen, 2.0, 400)[0, 0]
        inside = torch.nonzero(d2 < 4.0).flatten()
        assert got[: len(inside)].tolist() == inside.tolist()  # d2 == 4 (on the sphere) excluded
        assert set(got.tolist()) == set(inside.tolist())


# ----------------------------------------------------------------------------- bad and odd inputs

BAD_NUMBERS = [True, 1.5, "3", None]


@SETTINGS
@given(n=st.integers(1, 20), kind=st.sampled_from(["np", "tensor", "int"]))
def test_numbers_arrive_in_any_numeric_type(n, kind):
    wrap = {"np": np.int64, "tensor": torch.tensor, "int": int}[kind]
    xyz = torch.rand(1, n, 3)
    ref = P.ball_query(xyz, xyz, 0.3, 4)
    assert torch.equal(
        P.ball_query(xyz, xyz, np.float32(0.3) if kind == "np" else 0.3, wrap(4)), ref
    )
    assert torch.equal(P.ball_query(xyz, xyz, torch.tensor(0.3), 4), ref)
    assert torch.equal(
        P.farthest_point_sample(xyz, wrap(n), start=wrap(n - 1)),
        P.farthest_point_sample(xyz, n, start=n - 1),
    )


@pytest.mark.parametrize("bad", [True, "3", None, 0, -1.0, float("nan"), float("inf")])
def test_ball_query_refuses_bad_radius(bad):
    xyz = torch.rand(1, 5, 3)
    with pytest.raises(ValueError, match="radius"):
        P.ball_query(xyz, xyz, bad, 2)


@pytest.mark.parametrize("bad", BAD_NUMBERS + [0, -2])
def test_integer_arguments_refuse_bools_fractions_and_strings(bad):
    xyz = torch.rand(1, 5, 3)
    with pytest.raises(ValueError, match="k must"):
        P.ball_query(xyz, xyz, 0.5, bad)
    with pytest.raises(ValueError, match="m must"):
        P.farthest_point_sample(xyz, bad)
    with pytest.raises(ValueError, match="k must"):
        P.knn(xyz, xyz, bad)
    with pytest.raises(ValueError, match="k must"):
        P.interpolate(xyz, xyz, xyz, k=bad)


@pytest.mark.parametrize("start", [True, 1.5, -1, 5, np.float64(2.0)])
def test_fps_refuses_bad_start(start):
    with pytest.raises(ValueError, match="start"):
        P.farthest_point_sample(torch.rand(1, 5, 3), 2, start=start)


@SETTINGS
@given(
    n=st.integers(1, 12),
    where=st.integers(0, 11),
    value=st.sampled_from([float("nan"), float("inf"), -float("inf")]),
)
def test_nan_or_infinite_coordinates_are_refused(n, where, value):
    xyz = torch.rand(2, n, 3)
    xyz[1, where % n, where % 3] = value
    ok = torch.rand(2, 4, 3)
    calls = [
        lambda: P.farthest_point_sample(xyz, 1),
        lambda: P.ball_query(xyz, ok, 0.5, 2),
        lambda: P.ball_query(ok, xyz, 0.5, 2),
        lambda: P.knn(xyz, ok, 1),
        lambda: P.square_distance(xyz, ok),
        lambda: P.interpolate(ok, xyz, torch.rand(2, n, 5)),
        lambda: P.normalize_unit_sphere(xyz),
        lambda: P.normalize_unit_sphere(xyz.numpy()),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="NaN or infinite"):
            call()


def test_empty_sets_are_refused_with_a_clear_message():
    empty = torch.zeros(2, 0, 3)
    some = torch.rand(2, 4, 3)
    for call in (
        lambda: P.ball_query(empty, some, 0.5, 2),
        lambda: P.farthest_point_sample(empty, 1),
        lambda: P.knn(empty, some, 1),
        lambda: P.normalize_unit_sphere(empty),
        lambda: P.random_input_dropout(empty),
        lambda: P.drop_points(empty, 1),
    ):
        with pytest.raises(ValueError, match="no points"):
            call()
    with pytest.raises(ValueError, match="nothing to interpolate"):
        P.interpolate(some, empty, torch.zeros(2, 0, 5))
    # no centroids is a valid, empty query
    assert P.ball_query(some, empty, 0.5, 3).shape == (2, 0, 3)


@SETTINGS
@given(n=st.integers(1, 15), m=st.integers(1, 6), seed=st.integers(0, 10**6))
def test_integer_coordinates_are_converted_to_float(n, m, seed):
    g = torch.Generator().manual_seed(seed)
    xi = torch.randint(-5, 6, (2, n, 3), generator=g)
    xf = xi.to(torch.get_default_dtype())
    m = min(m, n)
    assert torch.equal(P.farthest_point_sample(xi, m), P.farthest_point_sample(xf, m))
    assert torch.equal(P.ball_query(xi, xi[:, :m], 3, 4), P.ball_query(xf, xf[:, :m], 3, 4))
    assert P.square_distance(xi, xi).dtype == torch.get_default_dtype()
    assert torch.equal(P.normalize_unit_sphere(xi), P.normalize_unit_sphere(xf))
    # a rotation of integer points is a float rotation, not a truncated one
    rot = P.random_rotate_z(xi, generator=torch.Generator().manual_seed(1))
    ref = P.random_rotate_z(xf, generator=torch.Generator().manual_seed(1))
    assert rot.is_floating_point() and torch.equal(rot, ref)
    assert not torch.equal(P.jitter(xi), xf)  # noise is not rounded away


def test_bool_or_non_tensor_points_are_refused():
    with pytest.raises(ValueError, match="real coordinates"):
        P.farthest_point_sample(torch.ones(1, 3, 3, dtype=torch.bool), 1)
    with pytest.raises(ValueError, match=r"\(B, N, D\)"):
        P.ball_query(np.zeros((1, 3, 3)), torch.zeros(1, 1, 3), 0.5, 1)
    with pytest.raises(ValueError, match="same batch size"):
        P.ball_query(torch.rand(2, 5, 3), torch.rand(1, 2, 3), 0.5, 1)
    with pytest.raises(ValueError, match="same batch size"):
        P.square_distance(torch.rand(1, 5, 3), torch.rand(1, 2, 2))


@SETTINGS
@given(n=st.integers(2, 12), m=st.integers(1, 6), c=st.integers(1, 4), k=st.integers(1, 8))
def test_interpolate_checks_rows_and_uses_all_known_points_when_k_exceeds_them(n, m, c, k):
    xyz, known = torch.rand(2, n, 3), torch.rand(2, m, 3)
    feats = torch.rand(2, m, c)
    out = P.interpolate(xyz, known, feats, k=k)
    assert out.shape == (2, n, c)
    assert torch.equal(out, P.interpolate(xyz, known, feats, k=min(k, m)))
    with pytest.raises(ValueError, match="one row per known point"):
        P.interpolate(xyz, known, torch.rand(2, m + 1, c))
    with pytest.raises(ValueError, match="one row per known point"):
        P.interpolate(xyz, known, torch.rand(2, c, m) if c != m else torch.rand(1, m, c))
    with pytest.raises(ValueError, match="k must"):
        P.interpolate(xyz, known, feats, k=0)
    with pytest.raises(ValueError, match="p must"):
        P.interpolate(xyz, known, feats, p=-1.0)


def test_augmentation_and_index_arguments_are_checked():
    xyz = torch.rand(2, 6, 3)
    with pytest.raises(ValueError, match="keep"):
        P.drop_points(xyz, 2.0)
    with pytest.raises(ValueError, match="keep"):
        P.drop_points(xyz, 7)
    with pytest.raises(ValueError, match="count"):
        P.add_outliers(xyz, True)
    with pytest.raises(ValueError, match="max_ratio"):
        P.random_input_dropout(xyz, 1.0)
    with pytest.raises(ValueError, match="sigma"):
        P.jitter(xyz, sigma=-0.1)
    with pytest.raises(ValueError, match="generator"):
        P.jitter(xyz, generator=np.random.default_rng(0))
    with pytest.raises(ValueError, match="3-D points"):
        P.random_rotate_z(torch.rand(2, 6, 2))
    with pytest.raises(ValueError, match="integer tensor"):
        P.index_points(xyz, torch.zeros(2, 3))


def test_normalize_unit_sphere_numpy_matches_torch():
    x = np.random.default_rng(0).normal(size=(3, 20, 3))
    a = P.normalize_unit_sphere(x)
    assert isinstance(a, np.ndarray) and a.dtype == np.float64
    np.testing.assert_allclose(a, P.normalize_unit_sphere(torch.tensor(x)).numpy(), atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(a, axis=-1).max(1), 1.0)
    with pytest.raises(ValueError, match=r"\(B, N, D\)"):
        P.normalize_unit_sphere(x[0])


def test_neighbourhood_figure_takes_one_set():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dlparts.widgets.points import neighbourhood_figure

    pts = torch.rand(64, 3) * 2 - 1
    plt.close(neighbourhood_figure(pts, n_centroids=8, radius=0.5, k=8))
    with pytest.raises(ValueError, match=r"one set, x\[0\]"):
        neighbourhood_figure(pts[None])
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        neighbourhood_figure(torch.rand(0, 3))


def _old_method():
    """The former all-at-once ball query, kept in the benchmark file only."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_ball_query.py"
    spec = importlib.util.spec_from_file_location("bench_ball_query", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.old_ball_query


OLD_BALL_QUERY = _old_method()


@SETTINGS
@given(
    n=st.integers(1, 60),
    m=st.integers(1, 10),
    k=st.integers(1, 16),
    r=st.sampled_from([0.5, 1.0, 2.0, 0.37]),
    grid=st.booleans(),
    chunk=st.sampled_from([5, 64, 1 << 22]),
    seed=st.integers(0, 10**6),
)
def test_ball_query_gives_the_old_methods_indices(n, m, k, r, grid, chunk, seed):
    g = torch.Generator().manual_seed(seed)
    if grid:  # coordinates on a 0.5 grid: many points exactly on the sphere
        xyz = torch.randint(-4, 5, (2, n, 3), generator=g).float() * 0.5
    else:
        xyz = torch.rand(2, n, 3, generator=g) * 2 - 1
    cen = xyz[:, torch.randint(0, n, (m,), generator=g)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(P, "CHUNK_ELEMENTS", chunk)
        assert torch.equal(P.ball_query(xyz, cen, r, k), OLD_BALL_QUERY(xyz, cen, r, k))


# --------------------------------------------------------------------------- corruptions


@SETTINGS
@given(
    b=st.integers(1, 3),
    n=st.integers(1, 40),
    fraction=st.floats(0.0, 0.99),
    mode=st.sampled_from(["random", "farthest", "nearest"]),
    seed=st.integers(0, 10**6),
)
def test_drop_fraction_keeps_an_ordered_subset_of_the_right_size(b, n, fraction, mode, seed):
    xyz = torch.randn(b, n, 3, generator=torch.Generator().manual_seed(seed))
    out = P.drop_fraction(xyz, fraction, generator=torch.Generator().manual_seed(1), mode=mode)
    keep = max(1, round((1 - fraction) * n))
    assert out.shape == (b, keep, 3)
    for i in range(b):
        # every kept point is one of the set's points, in the original order, none twice
        pos = [int(((xyz[i] - p).abs().sum(1) == 0).nonzero()[0]) for p in out[i]]
        assert pos == sorted(set(pos))


def test_drop_fraction_farthest_is_farthest_point_sampling_and_is_reproducible():
    xyz = torch.randn(2, 50, 3)
    a = P.drop_fraction(xyz, 0.5, generator=torch.Generator().manual_seed(3), mode="farthest")
    b = P.drop_fraction(xyz, 0.5, generator=torch.Generator().manual_seed(3), mode="farthest")
    assert torch.equal(a, b)
    start = int(torch.randint(0, 50, (1,), generator=torch.Generator().manual_seed(3)))
    idx = P.farthest_point_sample(xyz, 25, start=start).sort(-1).values
    assert torch.equal(a, P.index_points(xyz, idx))
    # nothing dropped: the set itself
    assert torch.equal(P.drop_fraction(xyz, 0.0, mode="random"), xyz)


def test_drop_fraction_nearest_removes_a_region():
    # points on a line: keeping the half nearest to one point keeps a contiguous run
    xyz = torch.linspace(0, 1, 40)[None, :, None].expand(1, 40, 3).contiguous()
    out = P.drop_fraction(xyz, 0.5, generator=torch.Generator().manual_seed(0), mode="nearest")
    steps = out[0, 1:, 0] - out[0, :-1, 0]
    assert torch.allclose(steps, torch.full_like(steps, 1 / 39), atol=1e-6)


@pytest.mark.parametrize(
    "kwargs", [{"fraction": 1.0}, {"fraction": -0.1}, {"fraction": 0.5, "mode": "side"}]
)
def test_drop_fraction_refuses_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        P.drop_fraction(torch.randn(1, 10, 3), **kwargs)


@pytest.mark.parametrize("d", [2, 3])
def test_insert_outliers_keeps_every_point_and_adds_uniform_points_in_the_unit_ball(d):
    xyz = torch.randn(4, 100, d) * 0.1
    out = P.insert_outliers(xyz, 0.2, generator=torch.Generator().manual_seed(0))
    assert out.shape == (4, 125, d)  # 25 outliers are a fifth of 125 points
    assert torch.equal(out[:, :100], xyz)
    big = P.insert_outliers(
        torch.zeros(2, 4000, d), 0.5, generator=torch.Generator().manual_seed(1)
    )
    r = big[:, 4000:].norm(dim=-1)
    assert float(r.max()) <= 1.0
    # uniform in the ball: the inner ball of radius 1/2 holds (1/2)^d of the outliers
    assert abs(float((r < 0.5).float().mean()) - 0.5**d) < 0.03
    assert torch.equal(P.insert_outliers(xyz, 0.0), xyz)
    with pytest.raises(ValueError):
        P.insert_outliers(xyz, 1.0)


def test_gaussian_noise_has_the_asked_spread_and_is_not_clipped():
    xyz = torch.zeros(10, 1000, 3)
    noisy = P.gaussian_noise(xyz, 0.2, generator=torch.Generator().manual_seed(0))
    assert abs(float(noisy.std()) - 0.2) < 0.01
    assert float(noisy.abs().max()) > 0.5  # a clipped jitter would stop at its clip
    assert torch.equal(P.gaussian_noise(xyz, 0.0), xyz)
    with pytest.raises(ValueError):
        P.gaussian_noise(xyz, -0.1)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_corrupt_coordinate_changes_only_its_axis(axis):
    xyz = torch.randn(3, 200, 3) * 3
    before = xyz.clone()
    others = [a for a in range(3) if a != axis]
    zero = P.corrupt_coordinate(xyz, axis, "zero")
    assert torch.equal(zero[..., axis], torch.zeros(3, 200))
    assert torch.equal(zero[..., others], xyz[..., others])
    noise = P.corrupt_coordinate(xyz, axis, "noise", generator=torch.Generator().manual_seed(0))
    assert torch.equal(noise[..., others], xyz[..., others])
    assert float(noise[..., axis].abs().max()) <= 1.0
    assert float(noise[..., axis].std()) > 0.5  # uniform in [-1, 1]: sd 0.58
    assert torch.equal(xyz, before)  # the input itself is left alone


@pytest.mark.parametrize("kwargs", [{"axis": 3}, {"axis": -1}, {"axis": 0, "mode": "nan"}])
def test_corrupt_coordinate_refuses_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        P.corrupt_coordinate(torch.randn(1, 5, 3), **kwargs)
