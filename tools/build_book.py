"""Build the book at a given scale: ``python tools/build_book.py [--scale S] [--out DIR] [--strict]``.

``make book`` builds at ``default`` into ``_build/html``; ``make test`` builds at ``quick`` into
``_build/test/_build/html`` with Sphinx warnings as errors (``--strict``), so a test build never
overwrites the reader's book. Each output folder has its own execution cache, cleared whenever
``lib/``, the data, the pins or the scale change (jupyter-cache alone keys on code cells only).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_cache  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scale", default=os.environ.get("DLPARTS_SCALE") or "default")
    ap.add_argument("--out", default=None, help="output folder (default: the book root)")
    ap.add_argument("--strict", action="store_true", help="Sphinx warnings are errors")
    args = ap.parse_args(argv)
    if args.scale not in ("quick", "default", "full"):
        ap.error(f"--scale must be quick, default or full, not {args.scale!r}")

    out = Path(args.out).resolve() if args.out else ROOT
    build = out / "_build"
    cache = build / ".jupyter_cache"
    book_cache.refresh(cache, args.scale)

    config = ROOT / "_config.yml"
    if args.out:
        # Same configuration, but its own execution cache inside the output folder.
        text = config.read_text().replace("cache: _build/.jupyter_cache", f"cache: {cache}")
        text = text.replace("sphinx_offline: tools/", f"sphinx_offline: {ROOT / 'tools'}/")
        build.mkdir(parents=True, exist_ok=True)
        config = build / "_config.yml"
        config.write_text(text)

    env = dict(
        os.environ, DLPARTS_SCALE=args.scale, TQDM_DISABLE="1", PYDEVD_DISABLE_FILE_VALIDATION="1"
    )
    cmd = [
        str(Path(sys.executable).parent / "jupyter-book"),
        "build",
        str(ROOT),
        "--config",
        str(config),
    ]
    if args.out:
        cmd += ["--path-output", str(out)]
    if args.strict:
        cmd += ["-W", "-n", "--keep-going"]
    print(f"building the book at scale={args.scale} -> {build / 'html'}", flush=True)
    start = time.perf_counter()
    rc = subprocess.call(cmd, cwd=ROOT, env=env)
    print(
        f"book build {'succeeded' if rc == 0 else 'FAILED'} in {time.perf_counter() - start:.0f} s"
    )
    if rc == 0:
        print(f"open {build / 'html' / 'index.html'}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
