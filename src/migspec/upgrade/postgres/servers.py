"""Old and new servers for a rehearsal: a throwaway cluster of a given major with ``wal_level =
logical`` (both ends of a logical blue/green need it: the reverse subscription publishes from the
new server).

The programs of each major are :mod:`migspec.pginstall`'s (``start_server(major=N)``); this
module only adds the settings, which need a restart.
"""

from __future__ import annotations

from pathlib import Path

from migspec.pgserver import Server, _run_pg, find_bindir, start_server

#: Settings both ends of a logical upgrade need (a restart applies them).
LOGICAL_SETTINGS = ("wal_level = logical", "max_replication_slots = 10", "max_wal_senders = 10",
                    "max_logical_replication_workers = 8", "max_worker_processes = 16")


def bindir_for(major: int) -> Path | None:
    """A directory holding the server programs of PostgreSQL ``major``, or None."""
    return find_bindir(major)


def start_major(major: int, *, settings: tuple[str, ...] = LOGICAL_SETTINGS, fast: bool = False) -> Server:
    """Start a throwaway cluster of ``major`` with ``settings`` (applied by a restart)."""
    server = start_server(major=major, fast=fast)
    conf = server.datadir / "postgresql.conf"
    conf.write_text(conf.read_text() + "\n# migspec upgrade rehearsal\n" + "\n".join(settings) + "\n")
    done = _run_pg([str(server.bindir / "pg_ctl"), "restart", "-D", str(server.datadir), "-l", str(server.logfile),
                    "-w", "-t", "60", "-m", "fast"], cwd=server.basedir)
    if done.returncode != 0:
        server.stop()
        from migspec.pgserver import ServerError

        raise ServerError(f"restart with {', '.join(settings)} failed:\n{done.stdout}{done.stderr}")
    return server
