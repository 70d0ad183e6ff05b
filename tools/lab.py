"""Open the notebooks in JupyterLab with the project's environment (``make lab`` runs this).

    python tools/lab.py [--notebook-dir chapters] [JUPYTER LAB OPTIONS...]

JupyterLab runs from this interpreter (the project's ``.venv``), so the kernels import the
installed ``dlparts`` and the notebooks' MyST (admonitions, dropdown solutions, citations) is
rendered by ``jupyterlab-myst``, as the book renders it; the numbers the prose pastes (glue roles,
which jupyterlab-myst does not know) are filled in by the kernel when the cells run
(:mod:`dlparts.lab`). Options after the known ones go to
``jupyter lab`` unchanged (``--port=8890``, ``--no-browser``, ...). ``tests/test_lab.py`` starts
the server through :func:`command` too, so the test exercises what the README tells readers to run.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def command(
    notebook_dir: Path | str = ROOT / "chapters", extra: list[str] | None = None
) -> list[str]:
    """The ``jupyter lab`` command line: this interpreter's JupyterLab on ``notebook_dir``
    (``--allow-root`` when run as root, as in a container), then ``extra`` options."""
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--notebook-dir={Path(notebook_dir)}",
        # the prose's glue roles shown as {eval} of claims.paste_*, saved back as glue
        "--ServerApp.contents_manager_class=dlparts.lab.GlueContentsManager",
    ]
    if hasattr(os, "getuid") and os.getuid() == 0:
        cmd.append("--allow-root")
    return cmd + list(extra or [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebook-dir", default=str(ROOT / "chapters"))
    args, extra = parser.parse_known_args(argv)
    cmd = command(args.notebook_dir, extra)
    os.execv(cmd[0], cmd)  # replaces this process, so Ctrl-C reaches JupyterLab directly
    return 0  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
