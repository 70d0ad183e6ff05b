"""Where the data lives, and checksums."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def data_dir() -> Path:
    """The folder of data shipped with the book (``data/`` at the repository root).

    ``DLPARTS_DATA`` overrides it. Raises ``FileNotFoundError`` with what to do when it is missing
    (for instance when ``dlparts`` was installed without the repository).
    """
    env = os.environ.get("DLPARTS_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[3] / "data")
    for c in candidates:
        if (c / "README.md").is_file():
            return c
    raise FileNotFoundError(
        "The book's data folder was not found (looked in: "
        + ", ".join(str(c) for c in candidates)
        + "). Install dlparts from a clone of the repository (`pip install -e .`) "
        "or point DLPARTS_DATA at its data/ folder."
    )


def full_data_dir() -> Path:
    """Where full data sets (CIFAR-10, ModelNet40, ...) are looked for.

    ``DLPARTS_DATA_HOME`` if set, else ``~/.cache/dlparts``. Nothing is downloaded: put the files
    there yourself to use them at ``full`` scale.
    """
    env = os.environ.get("DLPARTS_DATA_HOME")
    return Path(env) if env else Path.home() / ".cache" / "dlparts"


def sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file, as the hex string recorded in ``data/README.md``."""
    return _digest(path, hashlib.sha256())


def md5(path: str | os.PathLike) -> str:
    """MD5 of a file (the checksum torchvision and most data set pages publish)."""
    return _digest(path, hashlib.md5())


def _digest(path, h) -> str:
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
