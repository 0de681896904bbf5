"""A throwaway server stopped without waiting (``Server.stop(wait=False)``: a detached reaper)
leaves nothing behind: polled, bounded in time."""

from __future__ import annotations

import time
from pathlib import Path

from migspec.pgserver import Server


def postmaster_pid(server: Server) -> int:
    """The running server's postmaster (first line of postmaster.pid)."""
    return int((server.datadir / "postmaster.pid").read_text().split()[0])


def _cmdline(pid: int | str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""  # no such process (any more)


def _naming(basedir: Path) -> list[int]:
    """Processes whose command line names ``basedir`` (the postmaster: -D; the reaper: rm, pg_ctl)."""
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and str(basedir).encode() in _cmdline(p.name)]


def assert_gone(basedir: Path, pid: int, timeout: float = 30) -> None:
    """Within ``timeout``: the server's directory removed, its postmaster ``pid`` exited, and no
    process naming the directory left."""
    deadline = time.monotonic() + timeout
    while True:
        left = {"directory": basedir.exists(), "postmaster": str(basedir).encode() in _cmdline(pid),
                "processes": _naming(basedir)}
        if not any(left.values()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{basedir}: still there after {timeout} s: {left}")
        time.sleep(0.05)
