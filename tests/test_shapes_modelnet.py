"""Procedural shapes, MNIST point sets and the ModelNet40 loaders (on small files made here)."""

import h5py
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlparts.data import (
    MODELNET40_CLASSES,
    PART_NAMES,
    SHAPE_CLASSES,
    load_modelnet40,
    make_shapes,
    mnist_point_split,
    mnist_to_points,
    sample_shape,
    shapes_split,
)


def test_shapes_are_deterministic_and_well_formed():
    a = make_shapes(2, 64, seed=3)
    b = make_shapes(2, 64, seed=3)
    c = make_shapes(2, 64, seed=4)
    assert torch.equal(a["x"], b["x"]) and torch.equal(a["y"], b["y"])
    assert not torch.equal(a["x"], c["x"])
    assert a["x"].shape == (2 * len(SHAPE_CLASSES), 64, 3) and a["x"].dtype == torch.float32
    assert sorted(a["y"].tolist()) == sorted(list(range(len(SHAPE_CLASSES))) * 2)
    assert len(SHAPE_CLASSES) >= 10
    assert a["x"].norm(dim=-1).max() < 1.1
    assert len(a["part_names"]) == sum(len(v) for v in PART_NAMES.values())
    assert int(a["parts"].max()) < len(a["part_names"])
    # each shape's part ids belong to its own class
    for y, parts in zip(a["y"], a["parts"]):
        cls = SHAPE_CLASSES[int(y)]
        assert {a["part_names"][int(p)].split("/")[0] for p in parts} == {cls}


def test_shapes_split_is_disjoint_streams():
    d = shapes_split(1, 1, 32, seed=0, classes=("cube", "sphere"))
    assert d["x_train"].shape == (2, 32, 3) and d["x_test"].shape == (2, 32, 3)
    assert not torch.equal(d["x_train"], d["x_test"])


@settings(max_examples=20, deadline=None)
@given(name=st.sampled_from(SHAPE_CLASSES), n=st.integers(1, 300), seed=st.integers(0, 1000))
def test_sample_shape_any_size(name, n, seed):
    p, parts = sample_shape(name, n, seed, noise=0.0)
    assert p.shape == (n, 3) and parts.shape == (n,)
    assert parts.min() >= 0 and parts.max() < len(PART_NAMES[name])
    if n > 1:
        assert np.linalg.norm(p, axis=1).max() == pytest.approx(1.0, abs=1e-5)


def test_surface_sampling_is_uniform_on_a_cylinder():
    # cap area 2*pi*r^2 against side 2*pi*r*h with r = 0.5, h = 1: caps hold a third of the points
    _, parts = sample_shape("cylinder", 30000, 0, stretch=(1, 1))
    assert (parts == 0).mean() == pytest.approx(1 / 3, abs=0.01)


def test_bad_shape_arguments():
    with pytest.raises(ValueError, match="unknown shape"):
        sample_shape("teapot")
    with pytest.raises(ValueError, match="unknown classes"):
        make_shapes(1, classes=("cube", "teapot"))
    with pytest.raises(ValueError, match="rotate"):
        sample_shape("cube", rotate="x")


def test_mnist_to_points():
    img = np.zeros((2, 28, 28), np.uint8)
    img[0, 5:10, 3:4] = 255  # a vertical bar: 5 pixels in column 3, rows 5..9
    img[1, 20, 20] = 200
    pts = mnist_to_points(img, n_points=16, seed=0)
    assert pts.shape == (2, 16, 2)
    x0 = (pts[0, :, 0] + 1) / 2 * 28
    y0 = (1 - pts[0, :, 1]) / 2 * 28
    assert ((x0 >= 3) & (x0 < 4)).all() and ((y0 >= 5) & (y0 < 10)).all()
    assert torch.allclose((pts[1] + 1) / 2 * 28, pts[1].new_tensor([20.5, 7.5]), atol=0.5)
    with pytest.raises(ValueError):
        mnist_to_points(np.zeros((28, 28)))


def write_txt(root, per_class=2, n=30):
    base = root / "modelnet40_normal_resampled"
    rng = np.random.default_rng(0)
    names = MODELNET40_CLASSES[:3]
    base.mkdir(parents=True)
    (base / "modelnet40_shape_names.txt").write_text("\n".join(MODELNET40_CLASSES) + "\n")
    ids = {"train": [], "test": []}
    arrays = {}
    for c in names:
        (base / c).mkdir()
        for i in range(1, per_class + 2):
            sid = f"{c}_{i:04d}"
            a = rng.normal(size=(n, 6)).astype(np.float32)
            np.savetxt(base / c / f"{sid}.txt", a, delimiter=",", fmt="%.6f")
            arrays[sid] = a
            ids["train" if i <= per_class else "test"].append(sid)
    for split, lst in ids.items():
        (base / f"modelnet40_{split}.txt").write_text("\n".join(lst) + "\n")
    return arrays, ids


def test_modelnet_txt(tmp_path):
    arrays, ids = write_txt(tmp_path)
    x, y, names = load_modelnet40("train", n_points=20, root=tmp_path)
    assert x.shape == (6, 20, 3) and y.tolist() == [0, 0, 1, 1, 2, 2]
    assert names == MODELNET40_CLASSES
    ref = arrays[ids["train"][3]][:20, :3]
    ref = ref - ref.mean(0)
    ref = ref / np.linalg.norm(ref, axis=1).max()
    np.testing.assert_allclose(x[3].numpy(), ref, atol=1e-5)
    xt, yt, _ = load_modelnet40("test", n_points=10, root=tmp_path, normals=True, fmt="txt")
    assert xt.shape == (3, 10, 6) and yt.tolist() == [0, 1, 2]
    xs, _, _ = load_modelnet40("train", n_points=5, root=tmp_path, max_per_class=1)
    assert xs.shape == (3, 5, 3)
    with pytest.raises(ValueError, match="rows"):
        load_modelnet40("train", n_points=31, root=tmp_path)


def test_modelnet_h5(tmp_path):
    base = tmp_path / "modelnet40_ply_hdf5_2048"
    base.mkdir()
    rng = np.random.default_rng(1)
    data = {}
    for split, parts in (("train", 2), ("test", 1)):
        for j in range(parts):
            d = rng.uniform(-1, 1, size=(3, 2048, 3)).astype(np.float32)
            lab = rng.integers(0, 40, size=(3, 1)).astype(np.uint8)
            with h5py.File(base / f"ply_data_{split}{j}.h5", "w") as h:
                h["data"], h["label"] = d, lab
            data[(split, j)] = (d, lab)
    x, y, names = load_modelnet40("train", n_points=1024, root=tmp_path)
    assert x.shape == (6, 1024, 3) and x.dtype == torch.float32 and y.dtype == torch.long
    assert (
        y.tolist()
        == np.concatenate([data[("train", 0)][1], data[("train", 1)][1]]).ravel().tolist()
    )
    assert names == MODELNET40_CLASSES
    assert torch.allclose(x.norm(dim=-1).amax(1), torch.ones(6))
    xt, yt, _ = load_modelnet40("test", n_points=2048, root=base, fmt="h5")
    assert xt.shape == (3, 2048, 3)
    with pytest.raises(ValueError, match="normals"):
        load_modelnet40("train", root=tmp_path, normals=True, fmt="h5")


def test_modelnet_missing_says_where(tmp_path):
    with pytest.raises(FileNotFoundError, match="modelnet40_ply_hdf5_2048"):
        load_modelnet40(root=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="split"):
        load_modelnet40("val", root=tmp_path)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: sample_shape("cube", 0), "n_points"),
        (lambda: sample_shape("cube", True), "n_points"),
        (lambda: sample_shape("cube", 10.0), "n_points"),
        (lambda: sample_shape("cube", 10, stretch=(1.2, 0.8)), "low <= high"),
        (lambda: sample_shape("cube", 10, stretch=(0, 1)), "stretch"),
        (lambda: sample_shape("cube", 10, noise=-0.1), "noise"),
        (lambda: make_shapes(0), "n_per_class"),
        (lambda: make_shapes(1, n_points=-3), "n_points"),
        (lambda: make_shapes(1, rotate="x"), "rotate"),
        (lambda: shapes_split(n_test_per_class=0), "n_test_per_class"),
        (lambda: mnist_to_points(np.zeros((2, 28, 28)), n_points=0), "n_points"),
        (lambda: mnist_to_points(np.zeros((0, 28, 28))), "at least one"),
        (lambda: mnist_to_points(np.zeros((1, 28, 28)), threshold=1.0), "threshold"),
        (lambda: mnist_to_points(np.full((1, 28, 28), np.nan)), "NaN"),
        (lambda: mnist_point_split(n_train=2.5), "n_train"),
        (lambda: mnist_point_split(n_test=True), "n_test"),
    ],
)
def test_bad_sizes_are_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_numpy_integers_are_valid_sizes():
    a = make_shapes(np.int64(1), np.int32(16), seed=0, classes=("cube",))
    b = make_shapes(1, 16, seed=0, classes=("cube",))
    assert torch.equal(a["x"], b["x"])
    assert sample_shape("cone", np.int64(8), 0)[0].shape == (8, 3)


def test_modelnet_bad_sizes_and_paths(tmp_path):
    write_txt(tmp_path)
    with pytest.raises(ValueError, match="n_points"):
        load_modelnet40("train", n_points=0, root=tmp_path)
    with pytest.raises(ValueError, match="max_per_class"):
        load_modelnet40("train", n_points=5, root=tmp_path, max_per_class=0)
    from dlparts.data import load_modelnet40_h5, load_modelnet40_txt

    with pytest.raises(FileNotFoundError, match="not a folder"):
        load_modelnet40_txt(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="not a folder"):
        load_modelnet40_h5(tmp_path / "nowhere")
