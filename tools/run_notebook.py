"""Run notebooks at a scale and read their claims: ``python tools/run_notebook.py NB... [--scale S]``.

For each notebook: execute it top to bottom (nbclient, the project's kernel), print its wall and
CPU time, every claim it recorded with its verdict and measured values, and any ``{glue:...}``
reference in its Markdown that no cell glued (the book build would fail on it). The executed
copies go to ``--out`` (default ``_build/run``) for a look at their outputs and figures.

Exit status 1 when a notebook errors, a required claim does not hold, or a glue reference is
missing: the same things that fail ``make test`` and ``make book``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

sys.path.insert(0, str(Path(__file__).resolve().parent))
import claims_ledger  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GLUE_REF = re.compile(r"\{glue(?::\w+)?\}`([^`]+)`")
GLUE_PREFIX = "application/papermill.record/"


def glued_keys(nb) -> set[str]:
    keys = set()
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                keys.add(name)
    return keys


def glue_references(nb) -> list[str]:
    refs = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for ref in GLUE_REF.findall(cell.source):
                if "::" in ref:
                    continue  # a reference to another page's glue
                key = ref
                if ":" in ref:
                    key = ref.rsplit(":", 1)[0]
                refs.append(key)
    return refs


def run(path: Path, scale: str, out: Path, timeout: int) -> bool:
    nb = nbformat.read(path, as_version=4)
    os.environ["DLPARTS_SCALE"] = scale
    os.environ.setdefault("TQDM_DISABLE", "1")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={
        "metadata": {"path": str(path.parent)}})  # fmt: skip
    error = None
    try:
        client.execute()
    except CellExecutionError as e:
        error = str(e).strip().splitlines()[-1] if str(e).strip() else repr(e)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rel = (
        path.resolve().relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else Path(path.name)
    )
    target = out / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)

    docname = str(rel.with_suffix(""))
    records = claims_ledger.records_in(json.loads(nbformat.writes(nb)), docname)
    missing = sorted(set(glue_references(nb)) - glued_keys(nb))
    problems = claims_ledger.gate(records)
    print(f"== {rel} at {scale}: {wall:.1f} s wall, {cpu:.1f} s CPU -> {target}")
    for r in records:
        word = "HOLDS" if r["holds"] else ("FAILS" if r["required"] else "not reproduced")
        values = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in r["measured"].items())  # fmt: skip
        print(f"   [{word:>14}] {r['key']}: {values}")
    if not records:
        print("   (no claims recorded)")
    for key in missing:
        print(f"   MISSING glue: the prose reads {{glue}}`{key}` but no cell glued it")
    for p in problems:
        print(f"   FAILED: {p}")
    if error:
        print(f"   ERROR: {error}")
    return not (error or problems or missing)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument("--scale", default=os.environ.get("DLPARTS_SCALE") or "quick",
                    choices=("quick", "default", "full"))  # fmt: skip
    ap.add_argument("--out", type=Path, default=ROOT / "_build" / "run")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = ap.parse_args(argv)
    ok = True
    for nb in args.notebooks:
        if not nb.is_file():
            ap.error(f"no notebook at {nb}")
        ok &= run(nb, args.scale, args.out / args.scale, args.timeout)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
