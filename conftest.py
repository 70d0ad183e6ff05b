"""Shared pytest configuration: print how long each notebook took under nbval."""

from __future__ import annotations

import collections

_notebook_seconds: dict[str, float] = collections.defaultdict(float)


def pytest_runtest_logreport(report):
    # Under pytest-xdist the controller receives every worker's reports here too.
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration


def pytest_terminal_summary(terminalreporter):
    if not _notebook_seconds:
        return
    tr = terminalreporter
    tr.section("time per notebook")
    for path, secs in sorted(_notebook_seconds.items(), key=lambda kv: -kv[1]):
        tr.write_line(f"{secs:7.1f} s  {path}")
    tr.write_line(f"{sum(_notebook_seconds.values()):7.1f} s  in all")
