"""Build the book at a given scale: ``python tools/build_book.py [--scale S] [--out DIR] [--strict]``.

``make book`` builds at ``default`` into ``_build/html``; ``make test`` builds at ``quick`` into
``_build/test/_build/html`` with Sphinx warnings as errors (``--strict``), so a test build never
overwrites the reader's book. Each output folder has its own execution cache, cleared whenever
``lib/``, the data, the pins or the scale change (jupyter-cache alone keys on code cells only).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_cache  # noqa: E402
import claims_ledger  # noqa: E402
import execute_notebooks  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def check_ledger(html: Path) -> int:
    """The gate: 0 when every required claim in the built book holds, else 1 (naming each)."""
    path = html / claims_ledger.LEDGER
    if not path.is_file():
        print(f"no claims ledger at {path}: the claims_ledger extension did not run")
        return 1
    claims = json.loads(path.read_text())
    print(f"claims ledger: {claims_ledger.summary(claims)} ({path})")
    executions = html / claims_ledger.EXECUTION  # the notebooks this build rendered
    notebooks = list(json.loads(executions.read_text())) if executions.is_file() else []
    problems = claims_ledger.gate(claims, notebooks)
    for problem in problems:
        print(f"  FAILED: {problem}")
    if problems:
        print(
            "a required claim that does not hold fails the build: fix the experiment or the claim"
        )
    return 1 if problems else 0


def report_times(html: Path) -> None:
    """Print each notebook's execution time (from the build's execution.json)."""
    path = html / claims_ledger.EXECUTION
    if not path.is_file():
        return
    times = json.loads(path.read_text())
    total = sum(t["seconds"] or 0 for t in times.values())
    print(f"notebook execution times ({total:.0f} s in all):")
    for doc, t in sorted(times.items(), key=lambda kv: -(kv[1]["seconds"] or 0)):
        secs = "cached" if t["seconds"] is None else f"{t['seconds']:6.1f} s"
        print(f"  {secs:>8}  {doc}{'' if t['succeeded'] else '  (FAILED)'}")


def _config_for(build: Path, cache: Path) -> Path:
    """The book's configuration for another output folder: its own execution cache, and the
    local extensions found by absolute path."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["cache"] = str(cache)
    exts = config["sphinx"]["local_extensions"]
    config["sphinx"]["local_extensions"] = {k: str(ROOT / v) + "/" for k, v in exts.items()}
    build.mkdir(parents=True, exist_ok=True)
    path = build / "_config.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scale", default=os.environ.get("DLPARTS_SCALE") or "default")
    ap.add_argument("--out", default=None, help="output folder (default: the book root)")
    ap.add_argument("--strict", action="store_true", help="Sphinx warnings are errors")
    ap.add_argument(
        "--jobs",
        type=int,
        default=int(os.environ.get("NBWORKERS", "2")),
        help="notebooks executed at a time, one thread each (default: $NBWORKERS or 2)",
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
        config = _config_for(build, cache)

    env = execute_notebooks.notebook_env(args.scale)
    cmd = [
        str(Path(sys.executable).parent / "jupyter-book"),
        "build",
        str(ROOT),
        "--config",
        str(config),
    ]
    if args.out:
        cmd += ["--path-output", str(out)]
    # Every page is read again: a notebook whose source did not change may still have new
    # outputs (lib/ or the scale changed and it was executed again), and Sphinx alone would
    # keep the old page. Rendering from the execution cache takes seconds.
    cmd.append("--all")
    if args.strict:
        cmd += ["-W", "-n", "--keep-going"]
    start = time.perf_counter()
    # Execute first, in parallel, into the cache Sphinx reads: the build then executes nothing,
    # and a failing notebook stops here with its traceback, before any page is rendered.
    exec_args = ["--scale", args.scale, "--cache", str(cache), "--jobs", str(args.jobs)]
    if args.strict:
        exec_args.append("--strict")
    rc = execute_notebooks.main(exec_args)
    executed = time.perf_counter() - start
    if rc:
        print(f"book build FAILED: a notebook failed to execute ({executed:.0f} s)")
        return rc
    print(f"building the book at scale={args.scale} -> {build / 'html'}", flush=True)
    rc = subprocess.call(cmd, cwd=ROOT, env=env)
    if rc == 0:
        report_times(build / "html")
        rc = check_ledger(build / "html")
    total = time.perf_counter() - start
    print(
        f"book build {'succeeded' if rc == 0 else 'FAILED'} in {total:.0f} s "
        f"(executing notebooks {executed:.0f} s, rendering {total - executed:.0f} s)"
    )
    if rc == 0:
        print(f"open {build / 'html' / 'index.html'}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
