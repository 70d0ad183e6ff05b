"""Execute the book's notebooks in parallel into the build's execution cache, once.

    python tools/execute_notebooks.py --scale quick --cache _build/test/_build/.jupyter_cache

The book build (``tools/build_book.py``) calls this before Sphinx runs: every notebook listed
in ``_toc.yml`` whose code is not already in the cache is executed, ``--jobs`` at a time, one
thread each, and its executed copy is stored in the jupyter-cache that myst-nb reads. Sphinx then
renders from the cache and executes nothing. So ``make test`` executes each notebook exactly once
and checks, from that one execution:

- no cell raised (a failing notebook's traceback is printed here, in the build log);
- with ``--strict``, no required claim failed (``DLPARTS_CLAIMS_STRICT=1`` in the kernels);
- every checked cell (tagged ``nbval-check-output``, the cells nbval compares) printed what its stored
  output says, compared as nbval compares them: text outputs, with the volatile parts masked by
  the patterns in ``tools/nbval_sanitize.cfg``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
SANITIZE = ROOT / "tools" / "nbval_sanitize.cfg"
sys.path.insert(0, str(ROOT / "tools"))
from nbtool import is_checked  # noqa: E402

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def notebook_env(scale: str, strict: bool = False, base=None) -> dict:
    """The environment notebooks run in: the scale, no progress bars, and one thread each (as
    under nbval, so the book prints the numbers `make notebooks` measured; set OMP_NUM_THREADS
    yourself to override); with ``strict`` a failing required claim raises."""
    env = dict(os.environ if base is None else base)
    # DLPARTS_BOOK: no kernel answers the rendered page, so explorers render players instead of
    # ipywidgets (dlparts.widgets._book)
    env.update(
        DLPARTS_SCALE=scale, TQDM_DISABLE="1", PYDEVD_DISABLE_FILE_VALIDATION="1", DLPARTS_BOOK="1"
    )
    for var in THREAD_VARS:
        env.setdefault(var, "1")
    if strict:
        env["DLPARTS_CLAIMS_STRICT"] = "1"
    return env


def toc_notebooks(root: Path = ROOT) -> list[Path]:
    """Every notebook the table of contents lists, in reading order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    found: list[Path] = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                path = root / (node["file"] + ".ipynb")
                if path.is_file():
                    found.append(path)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return found


def sanitizers(path: Path = SANITIZE) -> list[tuple[re.Pattern, str]]:
    """The (regex, replacement) pairs of an nbval sanitize file."""
    from nbval.plugin import get_sanitize_patterns  # the parser nbval itself uses

    if not path.is_file():
        return []
    return [(re.compile(r), s) for r, s in get_sanitize_patterns(path.read_text())]


def _texts(outputs, subs) -> list[tuple[str, str]]:
    """What nbval compares in a cell's outputs: text only (streams and text/plain), sanitized."""
    out = []
    for o in outputs:
        if o.get("output_type") == "stream":
            kind, text = f"stream:{o.get('name')}", o.get("text", "")
        elif o.get("output_type") in ("execute_result", "display_data"):
            if "text/plain" not in o.get("data", {}):
                continue
            kind, text = "text/plain", o["data"]["text/plain"]
        elif o.get("output_type") == "error":
            kind, text = "error", f"{o.get('ename')}: {o.get('evalue')}"
        else:
            continue
        text = "".join(text) if isinstance(text, list) else text
        if out and kind.startswith("stream:") and out[-1][0] == kind:
            out[-1] = (kind, out[-1][1] + text)  # a stream arrives in chunks: compare it whole
        else:
            out.append((kind, text))
    clean = []
    for kind, text in out:
        for pattern, repl in subs:
            text = pattern.sub(repl, text)
        clean.append((kind, "\n".join(ln.rstrip() for ln in text.strip("\n").splitlines())))
    return clean


def compare_checked(source, executed, subs=None) -> list[str]:
    """Differences between the stored outputs of checked cells and a fresh execution."""
    subs = sanitizers() if subs is None else subs
    problems = []
    code = [c for c in source.cells if c.cell_type == "code"]
    ran = [c for c in executed.cells if c.cell_type == "code"]
    for i, (cell, new) in enumerate(zip(code, ran)):
        if not is_checked(cell):
            continue
        want, got = _texts(cell.get("outputs", []), subs), _texts(new.get("outputs", []), subs)
        if want != got:
            lines = [ln for ln in cell.source.strip().splitlines() if not ln.startswith("#")]
            name = (lines or [""])[0]
            problems.append(
                f"checked code cell {i + 1} ({name.strip()[:60]}) printed something else:\n"
                f"  stored:  {want!r}\n  printed: {got!r}"
            )
    return problems


def _execute(path: str, nb, timeout: int) -> tuple[str, object, float, str | None]:
    """Worker: run one notebook in its own folder; return it executed (or the traceback).

    The kernel talks to its client over Unix sockets in a private folder, not TCP ports on
    localhost: kernels started at the same moment by two workers could otherwise draw the
    same free ports and wait on each other's messages for ever.
    """
    import tempfile

    from jupyter_cache.executors.utils import single_nb_execution
    from jupyter_client.manager import KernelManager

    with tempfile.TemporaryDirectory(prefix="dlparts-kernel-") as sockets:
        km = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "k"))
        try:
            result = single_nb_execution(
                nb,
                cwd=str(Path(path).parent),
                timeout=timeout,
                allow_errors=False,
                meta_override=True,
                km=km,
            )
        finally:  # nbclient leaves a kernel it did not create running
            if km.has_kernel:
                km.shutdown_kernel(now=True)
    err = None if result.err is None else (result.exc_string or repr(result.err))
    return path, result.nb, result.time, err


def _short_traceback(text: str, lines: int = 40) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # ANSI colours from the kernel
    rows = text.rstrip().splitlines()
    return "\n".join(rows[-lines:])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", default=os.environ.get("DLPARTS_SCALE") or "default")
    ap.add_argument("--cache", required=True, help="the jupyter-cache folder the build reads")
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("NBWORKERS", "2")))
    ap.add_argument(
        "--timeout",
        type=int,
        default=None,
        help="seconds per cell (default 300 at quick, else 900)",
    )
    ap.add_argument("--strict", action="store_true", help="a failing required claim is an error")
    ap.add_argument("notebooks", nargs="*", help="default: every notebook in _toc.yml")
    args = ap.parse_args(argv)

    if args.timeout is None:
        args.timeout = 300 if args.scale == "quick" else 900
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    os.environ.update(notebook_env(args.scale, args.strict))  # the kernels inherit it

    cache = get_cache(args.cache)
    paths = [Path(p).resolve() for p in args.notebooks] or toc_notebooks()
    todo, sources = [], {}
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        sources[str(path)] = nb
        try:
            cache.match_cache_notebook(nb)
        except KeyError:
            todo.append(str(path))
    print(
        f"executing {len(todo)} of {len(paths)} notebooks at scale={args.scale}, "
        f"{args.jobs} at a time, one thread each ({len(paths) - len(todo)} cached)",
        flush=True,
    )
    subs, failed, start = sanitizers(), [], time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(_execute, p, sources[p], args.timeout) for p in todo]
        for fut in as_completed(futures):
            path, nb, secs, err = fut.result()
            rel = Path(path).relative_to(ROOT)
            if err is not None:
                failed.append(str(rel))
                print(f"  FAILED {rel} after {secs:.0f} s:\n{_short_traceback(err)}", flush=True)
                continue
            problems = compare_checked(sources[path], nb, subs)
            if problems:
                failed.append(str(rel))
                print(f"  FAILED {rel}: a checked output changed", flush=True)
                for p in problems:
                    print("    " + p.replace("\n", "\n    "))
                continue
            cache.cache_notebook_bundle(
                CacheBundleIn(nb, path, data={"execution_seconds": secs}),
                check_validity=False,
                overwrite=True,
            )
            print(f"  {secs:6.1f} s  {rel}", flush=True)
    print(f"executed in {time.perf_counter() - start:.0f} s; {len(failed)} failed", flush=True)
    if failed:
        print("failing notebooks: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
