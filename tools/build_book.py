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
    ap.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="notebooks executed in parallel before the build (1: let the build run them serially)",
    )
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

    os.environ.update(DLPARTS_SCALE=args.scale, TQDM_DISABLE="1")
    if args.jobs > 1:
        pre_execute(cache, args.jobs)
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


def toc_notebooks() -> list[Path]:
    """The notebooks the table of contents lists, in reading order."""
    import yaml

    found = []

    def walk(entries):
        for e in entries or []:
            if "file" in e and (ROOT / (e["file"] + ".ipynb")).is_file():
                found.append(ROOT / (e["file"] + ".ipynb"))
            walk(e.get("sections"))

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return found


def pre_execute(cache: Path, jobs: int) -> None:
    """Execute the stale notebooks into the build's cache, ``jobs`` at a time.

    Jupyter Book executes notebooks one after another; running them in parallel first, into the
    same jupyter-cache, leaves the build only cached results to read. A notebook that fails here
    is simply run again by the build, which then reports the error in full.
    """
    from jupyter_cache import get_cache
    from jupyter_cache.executors import load_executor

    notebooks = toc_notebooks()
    if not notebooks:
        return
    jc = get_cache(str(cache))
    for nb in notebooks:
        jc.add_nb_to_project(str(nb))
    stale = [str(nb) for nb in notebooks if jc.get_cached_project_nb(str(nb)) is None]
    if not stale:
        return
    print(f"executing {len(stale)} notebook(s), {jobs} at a time", flush=True)
    start = time.perf_counter()
    # Several notebooks share the cores: one thread each, so they do not fight over them.
    one_thread = {v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    saved = {v: os.environ.get(v) for v in one_thread}
    os.environ.update(one_thread)
    executor = load_executor("local-parallel" if jobs > 1 else "local-serial", cache=jc)
    try:
        result = executor.run_and_cache(filter_uris=stale, timeout=900, allow_errors=False)
    finally:
        for v, old in saved.items():
            if old is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = old
    for uri in result.errored:
        print(f"  failed (the build will run it again and show why): {Path(uri).relative_to(ROOT)}")
    print(f"executed in {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
