"""Invalidate an execution cache when anything but the notebooks' code changes.

jupyter-cache keys an executed notebook on its code cells alone, so a change in ``lib/``, in the
shipped data, in the pinned versions or in ``DLPARTS_SCALE`` would otherwise serve stale outputs.
:func:`refresh` hashes those inputs and clears the cache folder when the hash differs from the one
stored beside it. ``tools/build_book.py`` calls it before every build.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cache_key(scale: str, root: Path = ROOT) -> str:
    """A hash of everything outside the notebooks that their outputs depend on."""
    h = hashlib.sha256(f"scale={scale}\n".encode())
    files = sorted((root / "lib").rglob("*.py")) + sorted((root / "data").glob("*"))
    files += [root / "constraints.txt", root / "pyproject.toml"]
    for f in files:
        if f.is_file() and "__pycache__" not in f.parts:
            h.update(str(f.relative_to(root)).encode() + b"\0")
            h.update(f.read_bytes())
    return h.hexdigest()


def refresh(cache: Path, scale: str, root: Path = ROOT) -> bool:
    """Clear ``cache`` if its key is stale; return True when it was cleared."""
    cache = Path(cache)
    key_file = cache.with_name(cache.name + ".key")
    key = cache_key(scale, root)
    old = key_file.read_text().strip() if key_file.is_file() else None
    if old == key:
        return False
    if cache.exists():
        shutil.rmtree(cache)
        print(f"execution cache cleared ({cache}): lib/, data/, pins or scale changed")
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(key + "\n")
    return True
