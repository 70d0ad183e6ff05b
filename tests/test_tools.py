import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import book_cache  # noqa: E402


def make_root(tmp_path: Path) -> Path:
    root = tmp_path / "book"
    (root / "lib" / "dlparts").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "lib" / "dlparts" / "a.py").write_text("x = 1\n")
    (root / "data" / "d.csv").write_text("1,2\n")
    for f in ("constraints.txt", "pyproject.toml"):
        shutil.copy(ROOT / f, root / f)
    return root


def test_cache_key_changes_with_library_data_and_scale(tmp_path):
    root = make_root(tmp_path)
    key = book_cache.cache_key("default", root)
    assert book_cache.cache_key("default", root) == key
    assert book_cache.cache_key("quick", root) != key
    (root / "lib" / "dlparts" / "a.py").write_text("x = 2\n")
    key2 = book_cache.cache_key("default", root)
    assert key2 != key
    (root / "data" / "d.csv").write_text("1,3\n")
    assert book_cache.cache_key("default", root) != key2


def test_stale_cache_is_cleared(tmp_path):
    root = make_root(tmp_path)
    cache = root / "_build" / ".jupyter_cache"
    assert book_cache.refresh(cache, "default", root)  # first build: writes the key
    cache.mkdir(parents=True)
    (cache / "executed.db").write_text("stale")
    assert not book_cache.refresh(cache, "default", root)  # nothing changed: kept
    assert (cache / "executed.db").exists()
    (root / "lib" / "dlparts" / "a.py").write_text("x = 3\n")
    assert book_cache.refresh(cache, "default", root)  # the library changed: cleared
    assert not cache.exists()


def test_a_test_build_gets_its_own_cache_and_finds_the_extensions(tmp_path):
    import yaml

    import build_book

    path = build_book._config_for(tmp_path / "_build", tmp_path / "_build" / ".jupyter_cache")
    config = yaml.safe_load(path.read_text())
    assert config["execute"]["cache"] == str(tmp_path / "_build" / ".jupyter_cache")
    exts = config["sphinx"]["local_extensions"]
    assert set(exts) >= {"sphinx_offline", "claims_ledger"}
    for name, folder in exts.items():
        assert (Path(folder) / f"{name}.py").is_file(), (name, folder)
    # everything else is the book's own configuration
    book = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["title"] == book["title"] and config["parse"] == book["parse"]
