"""What a server process (and its worker children) costs, read from /proc (Linux only).

CPU time per request is the figure to trust on a shared machine: req/s falls when a neighbour
takes the core, but the CPU seconds a server spends per request barely change.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


def tree(pid: int) -> Iterator[int]:
    """``pid`` and all its descendants (uvicorn or granian workers)."""
    pending = [pid]
    while pending:
        current = pending.pop()
        yield current
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process tree, all threads included."""
    ticks = 0
    for current in tree(pid):
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{current}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of the process tree, in MiB."""
    total_kb = 0
    for current in tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
    return round(total_kb / 1024, 1)
