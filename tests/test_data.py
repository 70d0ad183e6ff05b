import hashlib
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from dlparts import data

ROOT = Path(__file__).resolve().parents[1]


def readme_checksums():
    text = (ROOT / "data" / "README.md").read_text()
    rows = re.findall(r"^\| `([^`]+)` \|.*\| `([0-9a-f]{64})` \|$", text, flags=re.M)
    return dict(rows)


def test_every_shipped_file_is_documented_with_its_checksum():
    documented = readme_checksums()
    shipped = {p.name for p in (ROOT / "data").iterdir() if p.is_file() and p.name != "README.md"}
    assert shipped == set(documented), "data/README.md must list every shipped file"
    for name, digest in documented.items():
        assert data.sha256(ROOT / "data" / name) == digest, f"{name} changed: checksum differs"


def test_mnist_has_5000_digits_of_every_class():
    x, y = data.load_mnist()
    assert x.shape == (5000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (5000,) and set(np.unique(y)) == set(range(10))
    assert np.bincount(y).min() > 400
    assert 0 < x.mean() < 255 and x.max() == 255


def test_mnist_split_is_disjoint_and_the_test_set_is_fixed():
    a = data.mnist_split(1000, 500, 1000, seed=0)
    b = data.mnist_split(300, 0, 1000, seed=1)
    assert a["x_train"].shape == (1000, 1, 28, 28) and a["x_train"].dtype == torch.float32
    assert float(a["x_train"].max()) <= 1.0
    assert torch.equal(a["x_test"], b["x_test"]), "the test set must not depend on the seed"
    flat = {k: v.flatten(1) for k, v in a.items() if k.startswith("x_")}
    train = {tuple(r.tolist()) for r in flat["x_train"][:200]}
    test = {tuple(r.tolist()) for r in flat["x_test"]}
    assert not train & test
    assert data.mnist_split(10, 0, 10, size=32)["x_train"].shape[-1] == 32


@pytest.mark.parametrize(
    "kwargs", [dict(n_train=4000, n_val=1), dict(n_test=1001), dict(n_train=-1), dict(size=30)]
)
def test_mnist_split_rejects_impossible_sizes(kwargs):
    with pytest.raises(ValueError):
        data.mnist_split(**kwargs)


def test_photos_load_as_rgb_floats():
    for name in data.PHOTOS:
        img = data.load_photo(name)
        assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.float32
        assert 0.0 <= img.min() and img.max() <= 1.0
    with pytest.raises(ValueError, match="chelsea"):
        data.load_photo("lena")


def _write_cifar(root: Path, n: int = 4):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    md5 = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"labels": rng.integers(0, 10, n).tolist(),
        }
        path = folder / name
        path.write_bytes(pickle.dumps(batch))
        md5[name] = hashlib.md5(path.read_bytes()).hexdigest()
    return md5


def test_cifar10_loader_reads_torchvision_format(tmp_path):
    md5 = _write_cifar(tmp_path)
    x, y = data.load_cifar10(tmp_path, train=True, checksums=md5)
    assert x.shape == (20, 32, 32, 3) and x.dtype == np.uint8 and y.shape == (20,)
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_1", "rb") as f:
        raw = pickle.load(f, encoding="bytes")[b"data"]
    # Stored as 1024 red, then 1024 green, then 1024 blue values per image.
    assert x[0, 0, 1, 0] == raw[0, 1] and x[0, 0, 0, 2] == raw[0, 2048]
    xt, _ = data.load_cifar10(tmp_path, train=False, checksums=md5)
    assert len(xt) == 4


def test_cifar10_loader_checks_md5_and_explains_missing_files(tmp_path):
    _write_cifar(tmp_path)
    with pytest.raises(ValueError, match="MD5"):
        data.load_cifar10(tmp_path)  # the small files are not the published ones
    with pytest.raises(FileNotFoundError, match="cifar-10-python.tar.gz"):
        data.load_cifar10(tmp_path / "nowhere")


def test_cifar10_tensors_and_availability(tmp_path):
    assert not data.cifar10_available(tmp_path)
    md5 = _write_cifar(tmp_path)
    assert data.cifar10_available(tmp_path)
    x, y = data.cifar10_tensors(tmp_path, train=True, n=6, checksums=md5)
    assert x.shape == (6, 3, 32, 32) and x.dtype == torch.float32 and y.shape == (6,)
    raw, _ = data.load_cifar10(tmp_path, train=True, checksums=md5)
    assert float(x[0, 1, 2, 3]) == pytest.approx(raw[0, 2, 3, 1] / 255.0)


@pytest.mark.parametrize("bad", [2.5, True, "10", -1])
def test_mnist_split_refuses_sizes_that_are_not_counts(bad):
    from dlparts.data import mnist_split

    with pytest.raises(ValueError, match="n_train must be a non-negative integer"):
        mnist_split(n_train=bad)


def test_mnist_split_accepts_numpy_sizes():
    import numpy as np

    from dlparts.data import mnist_split

    d = mnist_split(n_train=np.int64(10), n_test=np.int64(5))
    assert len(d["x_train"]) == 10 and len(d["x_test"]) == 5
