"""Start and stop a throwaway PostgreSQL server.

migspec proves its claims (locks taken, rewrites, catalog facts, timings) against a real server
rather than against a hand-kept model, so the tests, the catalog generator, the calibration tool
and ``migspec verify`` all need a private, disposable cluster.  This module is the one place that
knows how to make one.  It uses only the standard library so it can run before anything else is
installed, and it never touches a cluster it did not create.

Facts it relies on (checked on Debian 12 with PostgreSQL 15):

* ``initdb`` and ``pg_ctl`` refuse to run as root, so as root they are run through
  ``runuser -u postgres --`` on a directory chowned to that user.
* A unix socket path must stay under ~107 bytes, so the cluster lives in a short ``/tmp`` path.
* ``fsync=off``, ``synchronous_commit=off`` and ``full_page_writes=off`` make a throwaway server
  several times faster; the data is discarded anyway.

A server of a given major: ``start_server(major=13)``.  Its programs are found on the machine or
in the cache that ``python -m migspec.pginstall install 13 ...`` fills (``migspec.pginstall``
says from where); a major that is not there is a :class:`ServerError` naming that command.
Client programs (psql, pg_dump, pg_basebackup, pgbench) for a server: :meth:`Server.tool`.
"""

from __future__ import annotations

import atexit
import glob
import hashlib
import importlib.util
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from migspec.frozen import field, record

__all__ = ["Server", "ServerError", "find_bindir", "scratch_parent", "start_server", "server_version_num",
           "tool_path"]

#: Environment variable that points at a directory holding ``postgres``, ``initdb`` and ``pg_ctl``.
BINDIR_ENV = "MIGSPEC_PG_BINDIR"
#: Environment variable naming the directory the cluster's temporary directory is made in.
PARENT_ENV = "MIGSPEC_PG_TMPDIR"
_DEFAULT_PARENT = Path("/tmp")
#: Operating-system user that owns the cluster when this process runs as root.
OS_USER_ENV = "MIGSPEC_PG_OS_USER"
_DEFAULT_OS_USER = "postgres"
#: Environment variable naming the directory initdb'd clusters are kept in for ``template=True``
#: (default ``$XDG_CACHE_HOME/migspec/initdb``, else ``~/.cache/migspec/initdb``).
TEMPLATE_ENV = "MIGSPEC_PG_TEMPLATE_DIR"
#: Database superuser created by initdb; trust authentication, so no password.
DB_USER = "postgres"
#: Server programs that must all be present for a directory to count as a server bindir.
_REQUIRED_PROGRAMS = ("postgres", "initdb", "pg_ctl")
#: Seconds pg_ctl waits for start-up / shutdown before giving up.
_PG_CTL_TIMEOUT = 60
_LOG_TAIL_LINES = 40
_MAX_SOCKET_PATH = 107


class ServerError(RuntimeError):
    """The server could not be found, started or stopped; the message says why and what to do."""


@record
class Server:
    """A running throwaway server.  Use as a context manager, or call :meth:`stop`.

    ``dsn`` connects as the superuser to the ``postgres`` database over TCP on 127.0.0.1;
    :meth:`dsn_for` builds the same for another database.
    """

    dsn: str
    version_num: int
    datadir: Path
    bindir: Path
    port: int = 0
    basedir: Path = field(default_factory=Path)
    socket_dir: Path = field(default_factory=Path)
    logfile: Path = field(default_factory=Path)
    stopped: bool = False

    def dsn_for(self, dbname: str) -> str:
        """The DSN for database ``dbname`` on this server (same host, port and user)."""
        return f"host=127.0.0.1 port={self.port} user={DB_USER} dbname={dbname}"

    @property
    def major(self) -> int:
        """Major version (15 for 150018), the number version gates compare against."""
        return self.version_num // 10000

    def stop(self, *, wait: bool = True) -> None:
        """Stop the server at once and delete its files.  Safe to call more than once.

        ``-m immediate`` skips the shutdown checkpoint: nothing here is worth keeping, and it
        saves about a second per server.  ``wait=False`` hands both to a detached reaper
        (:meth:`_reap`) and returns at once: for a caller that is done with the server and
        should not wait for it to go (pg_ctl's wait alone is ~0.1 s, bench/s_target.py).
        """
        if self.stopped:
            return
        self.stopped = True
        running = (self.datadir / "postmaster.pid").exists()
        if running and not wait and self._reap():
            return
        try:
            if running:
                _run_pg(self._stop_argv(), cwd=self.basedir)
        finally:
            shutil.rmtree(self.basedir, ignore_errors=True)

    def _stop_argv(self) -> list[str]:
        return [str(self.bindir / "pg_ctl"), "stop", "-D", str(self.datadir),
                "-m", "immediate", "-w", "-t", str(_PG_CTL_TIMEOUT)]

    def _reap(self) -> bool:
        """Start a reaper that stops the server and then removes its directory, and do not wait
        for it: ``sh`` in a session of its own (``setsid``), so neither this process exiting nor a
        signal to its process group (Ctrl-C, a kill of the CLI) stops it half-way; the removal
        runs whether or not pg_ctl succeeded.  False when it could not be started (the caller
        stops synchronously)."""
        argv, env = _pg_command(self._stop_argv())
        script = '"$@" >/dev/null 2>&1; exec rm -rf -- "$0"'
        try:
            subprocess.Popen(["sh", "-c", script, str(self.basedir), *argv], cwd=self.basedir, env=env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
        except OSError:
            return False
        return True

    def tool(self, program: str) -> Path:
        """Path of client ``program`` (psql, pg_dump, pg_basebackup, pgbench ...) usable against
        this server: see :func:`tool_path`."""
        return tool_path(program, self.major, prefer=self.bindir)

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the server log, for error messages."""
        return _tail(self.logfile, lines)

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _is_server_bindir(path: Path) -> bool:
    """True when ``path`` holds every program needed to run a server (a client-only libpq-dev
    ``pg_config`` can point at a directory without ``postgres``)."""
    return all(os.access(path / prog, os.X_OK) for prog in _REQUIRED_PROGRAMS)


def _version_key(path: Path) -> tuple[int, ...]:
    """Sort key for ``/usr/lib/postgresql/<major>/bin`` so the newest major wins."""
    nums = re.findall(r"\d+", path.parent.name)
    return tuple(int(n) for n in nums) or (-1,)


def _pgserver_wheel_bindir() -> Path | None:
    """The bin directory of the ``pgserver`` PyPI wheel, if installed.

    Located through its package directory without importing it: importing ``pgserver`` has side
    effects (as root it creates an OS user of its own).
    """
    try:
        spec = importlib.util.find_spec("pgserver")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        root = Path(location)
        for candidate in [root / "pginstall" / "bin", *sorted(root.glob("**/bin"))]:
            if _is_server_bindir(candidate):
                return candidate
    return None


def tool_path(program: str, major: int, *, prefer: Path | None = None, exact: bool = False) -> Path:
    """Path of PostgreSQL program ``program`` to use against a server of ``major``.

    ``prefer`` (a server's own bindir) wins when it has the program; otherwise the same major's,
    else (unless ``exact``: pg_upgrade must be the target major's) the nearest newer major's
    found by :func:`migspec.pginstall.client_bindir` - the npm server packages have no clients,
    and a newer psql/pg_dump/pg_basebackup/pgbench works against an older server.
    Raises :class:`ServerError` naming the install command when none is found.
    """
    if prefer is not None and os.access(prefer / program, os.X_OK):
        return prefer / program
    from migspec import pginstall

    found = pginstall.client_bindir(major, (program,), exact=exact)
    if found is None:
        newest = max(pginstall.SUPPORTED_MAJORS)
        raise ServerError(
            f"no {program} for PostgreSQL {major} found"
            + ("" if exact else " (nor of a newer major)")
            + f"; install one: {pginstall.install_hint(major if exact else newest)}"
        )
    return found / program


def find_bindir(major: int | None = None) -> Path | None:
    """Find PostgreSQL's server programs, or return None.

    With ``major``: the programs of that major only (:func:`migspec.pginstall.server_bindir`:
    ``$MIGSPEC_PG_BINDIR`` or ``$MIGSPEC_PG_BINDIR_<N>``, the machine, then the cache).

    Order: ``$MIGSPEC_PG_BINDIR`` (an explicit choice wins), ``pg_config --bindir`` (what the
    system calls its default), the newest ``/usr/lib/postgresql/*/bin`` (Debian's layout, where
    several majors can sit side by side), then the ``pgserver`` wheel (extra ``embedded``).
    A candidate counts only if it holds ``postgres``, ``initdb`` and ``pg_ctl``.
    """
    if major is not None:
        from migspec import pginstall

        return pginstall.server_bindir(major)
    env = os.environ.get(BINDIR_ENV)
    if env:
        path = Path(env)
        return path if _is_server_bindir(path) else None

    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=False
            )
            if out.returncode == 0 and out.stdout.strip():
                path = Path(out.stdout.strip())
                if _is_server_bindir(path):
                    return path
        except (OSError, subprocess.TimeoutExpired):
            pass

    debian = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")]
    for path in sorted(debian, key=_version_key, reverse=True):
        if _is_server_bindir(path):
            return path

    return _pgserver_wheel_bindir()


def server_version_num(bindir: Path) -> int:
    """``server_version_num`` of the programs in ``bindir`` (150018 for 15.18), from
    ``postgres -V``, so the version is known before any server runs."""
    out = subprocess.run(
        [str(bindir / "postgres"), "-V"], capture_output=True, text=True, timeout=30, check=False
    )
    match = re.search(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?", out.stdout)
    if out.returncode != 0 or not match:
        raise ServerError(f"cannot read the version of {bindir / 'postgres'}: "
                          f"{(out.stdout + out.stderr).strip()!r}")
    major, minor = int(match.group(1)), int(match.group(2) or 0)
    # From 10 on, server_version_num is major * 10000 + minor (there is no middle number).
    return major * 10000 + minor


def scratch_parent() -> Path | None:
    """Where a server that only holds a schema to read back goes: ``/dev/shm`` (a tmpfs: copying
    the cluster and CREATE DATABASE take a fraction of a disk's time, measured in
    bench/s_target.py) when it is usable and ``$MIGSPEC_PG_TMPDIR`` does not choose; None (the
    default place) otherwise.  Never for a server whose timings mean anything."""
    shm = Path("/dev/shm")
    if os.environ.get(PARENT_ENV) or not (shm.is_dir() and os.access(shm, os.W_OK | os.X_OK)):
        return None
    return shm


def _free_port() -> int:
    """A TCP port that was free a moment ago (the caller retries if it is taken meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _os_user() -> str | None:
    """The OS user to run initdb/pg_ctl as: None when not root (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    return os.environ.get(OS_USER_ENV, _DEFAULT_OS_USER)


def _pg_command(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """``argv`` and the environment to run a PostgreSQL program with (see :func:`_run_pg`)."""
    user = _os_user()
    if user is not None:
        argv = ["runuser", "-u", user, "--", *argv]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    env["LANG"] = "C"
    return argv, env


def _run_pg(argv: list[str], *, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL program, through ``runuser`` when we are root.

    ``LC_ALL=C`` keeps messages in English and avoids initdb's complaints about locales that are
    not installed; the PG* variables of the caller are dropped so they cannot redirect pg_ctl.
    """
    argv, env = _pg_command(argv)
    try:
        return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise ServerError(f"cannot run {argv[0]}: {exc}") from exc


def _pg_ctl_start(argv: list[str], *, cwd: Path, datadir: Path) -> subprocess.CompletedProcess[str]:
    """``pg_ctl start -w``, done as soon as postmaster.pid says the server is ready: pg_ctl looks
    only every 0.1 s (WAITS_PER_SEC in pg_ctl.c), so it waits up to that long after the server is
    up (a copied cluster starts in a few tens of ms here). pg_ctl still judges a start that fails
    (its exit code and output); one that succeeded is left to exit by itself a moment later."""
    argv, env = _pg_command(argv)
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as out:
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT)
        except OSError as exc:
            raise ServerError(f"cannot run {argv[0]}: {exc}") from exc
        while proc.poll() is None:
            if _ready(datadir):
                return subprocess.CompletedProcess(argv, 0, "", "")
            time.sleep(0.005)
        out.seek(0)
        return subprocess.CompletedProcess(argv, proc.returncode, out.read(), "")


def _ready(datadir: Path) -> bool:
    """postmaster.pid's status line (the 8th, LOCK_FILE_LINE_PM_STATUS in miscadmin.h) is
    "ready": what pg_ctl -w waits for (PostgreSQL 10 and later)."""
    try:
        lines = (datadir / "postmaster.pid").read_text().split("\n")
    except OSError:
        return False
    return len(lines) >= 8 and lines[7].strip() == "ready"


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no server log)"
    return "\n".join(text.splitlines()[-lines:])


def _prepare_basedir(user: str | None, parent: Path) -> Path:
    """Create the short directory holding the data directory, socket and log.

    As root it is handed to ``user``: the server writes its socket and log there and refuses a
    data directory it does not own.
    """
    try:
        basedir = Path(tempfile.mkdtemp(prefix="migspec-pg-", dir=str(parent)))
    except OSError as exc:
        raise ServerError(f"cannot create a server directory in {parent}: {exc}") from exc
    # Unix socket paths are limited to 107 bytes (sun_path); PostgreSQL refuses longer ones.
    if len(str(basedir / ".s.PGSQL.65535").encode()) > _MAX_SOCKET_PATH:
        shutil.rmtree(basedir, ignore_errors=True)
        raise ServerError(f"{parent} is too long a path for a unix socket; use a shorter one")
    if user is not None:
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            shutil.rmtree(basedir, ignore_errors=True)
            raise ServerError(
                f"running as root, PostgreSQL must run as another OS user, but user {user!r} "
                f"does not exist (installing the postgresql package creates it; or set "
                f"{OS_USER_ENV} to an existing unprivileged user)"
            ) from None
        os.chown(basedir, pw.pw_uid, pw.pw_gid)
    return basedir


def _server_settings(*, port: int, socket_dir: Path, fast: bool) -> list[str]:
    """Lines appended to postgresql.conf (a file, so no shell quoting through pg_ctl -o)."""
    lines = [
        "listen_addresses = '127.0.0.1'",
        f"port = {port}",
        f"unix_socket_directories = '{socket_dir}'",
        # Tests run statements that fail on purpose; keep the log about the server itself.
        "log_min_messages = warning",
        "log_min_error_statement = panic",
        "log_checkpoints = off",
    ]
    if fast:
        lines += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
    return lines


def _initdb(bindir: Path, datadir: Path, basedir: Path) -> None:
    init = _run_pg(
        [str(bindir / "initdb"), "-D", str(datadir), "-A", "trust", "-U", DB_USER,
         "--no-sync", "-E", "UTF8", "--locale=C"],
        cwd=basedir,
    )
    if init.returncode != 0:
        raise ServerError(
            f"initdb failed (exit {init.returncode}) in {datadir}:\n"
            f"{(init.stdout + init.stderr).strip()}"
        )


def _template_root() -> Path:
    env = os.environ.get(TEMPLATE_ENV)
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "migspec" / "initdb"


def _copy_tree(src: Path, dst: Path) -> bool:
    """``cp -a`` keeps modes and, as root, the cluster's owner; ``--reflink=auto`` shares the
    blocks on a filesystem that can (btrfs, xfs). False when it failed (no GNU cp, disk full)."""
    try:
        done = subprocess.run(["cp", "-a", "--reflink=auto", str(src), str(dst)],
                              capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _copy_template(bindir: Path, version_num: int, user: str | None, datadir: Path,
                   basedir: Path) -> bool:
    """Make ``datadir`` a copy of the cached initdb'd cluster for these programs, creating the
    cache entry first when missing; False (the caller runs initdb) when the cache is unusable.

    initdb is most of a throwaway server's start-up (about 1 s of 1.4 s here, measured in
    bench/s_target.py); a copy of its result is the same cluster.  The entry is keyed by the
    version, the programs' directory and the OS user owning the files, and is created atomically:
    initdb runs into this server's own directory, is copied to a temporary directory next to the
    entry and renamed into place - a concurrent creator's rename fails on the existing entry and
    its copy is simply dropped, so readers only ever see a complete cluster.
    """
    tag = hashlib.sha256(str(bindir.resolve()).encode()).hexdigest()[:12]
    entry = _template_root() / f"{version_num}-{tag}-{user or os.geteuid()}"
    if (entry / "PG_VERSION").is_file():
        if _copy_tree(entry, datadir):
            return True
        shutil.rmtree(datadir, ignore_errors=True)
        return False
    _initdb(bindir, datadir, basedir)
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".new-", dir=str(entry.parent)))
    except OSError:
        return True
    try:
        if _copy_tree(datadir, staging / "data"):
            os.rename(staging / "data", entry)
    except OSError:
        pass  # another process made the entry first, or the cache is read-only: initdb's result stands
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return True


def start_server(
    *, port: int | None = None, fast: bool = True, parent: Path | None = None,
    major: int | None = None, template: bool = False,
) -> Server:
    """Create a new cluster in a temporary directory and start it; return a :class:`Server`.

    ``port`` defaults to a free one on 127.0.0.1.  ``fast`` turns off durability settings
    (right for tests and calibration, where a crash just means starting over).  ``parent`` is
    where the temporary directory goes: ``$MIGSPEC_PG_TMPDIR``, else ``/tmp``.  It must be a
    short path (the unix socket lives there); a tmpfs such as ``/dev/shm`` makes CREATE DATABASE
    about 10x faster than a disk, but timings taken there say nothing about real servers.
    The server is also stopped at interpreter exit, so a forgotten one does not outlive the
    process.  ``major`` asks for a server of that major (default: whatever :func:`find_bindir`
    finds first); it is looked for, never downloaded here (``python -m migspec.pginstall
    install N`` does that).  ``template`` copies a cached initdb'd cluster instead of running
    initdb (:func:`_copy_template`: ``$MIGSPEC_PG_TEMPLATE_DIR``, else the user's cache directory).
    Raises :class:`ServerError` (a ``RuntimeError``) with the log tail when anything fails.
    """
    bindir = find_bindir(major)
    if bindir is None and major is not None:
        from migspec import pginstall

        raise ServerError(
            f"no PostgreSQL {major} server programs found (postgres, initdb, pg_ctl); install "
            f"them: {pginstall.install_hint(major)}"
        )
    if bindir is None and os.environ.get(BINDIR_ENV):
        raise ServerError(
            f"{BINDIR_ENV}={os.environ[BINDIR_ENV]} does not hold the PostgreSQL server programs "
            f"(postgres, initdb, pg_ctl)"
        )
    if bindir is None:
        raise ServerError(
            "no PostgreSQL server programs found (postgres, initdb, pg_ctl). Install them "
            "(Debian: apt-get install -y postgresql; or pip install 'migspec[embedded]') or set "
            f"{BINDIR_ENV} to their directory."
        )
    version_num = server_version_num(bindir)
    user = _os_user()
    if parent is None:
        parent = Path(os.environ.get(PARENT_ENV) or _DEFAULT_PARENT)
    basedir = _prepare_basedir(user, parent)
    datadir = basedir / "data"
    logfile = basedir / "server.log"
    try:
        if not (template and _copy_template(bindir, version_num, user, datadir, basedir)):
            _initdb(bindir, datadir, basedir)
        conf = datadir / "postgresql.conf"
        base_conf = conf.read_text()
        attempts = 1 if port is not None else 3
        last_error = ""
        for _ in range(attempts):
            chosen = port if port is not None else _free_port()
            settings = _server_settings(port=chosen, socket_dir=basedir, fast=fast)
            extra = "\n# migspec throwaway server\n" + "\n".join(settings) + "\n"
            conf.write_text(base_conf + extra)
            started = _pg_ctl_start(
                [str(bindir / "pg_ctl"), "start", "-D", str(datadir), "-l", str(logfile),
                 "-w", "-t", str(_PG_CTL_TIMEOUT)],
                cwd=basedir, datadir=datadir,
            )
            if started.returncode == 0:
                server = Server(
                    dsn=f"host=127.0.0.1 port={chosen} user={DB_USER} dbname=postgres",
                    version_num=version_num,
                    datadir=datadir,
                    bindir=bindir,
                    port=chosen,
                    basedir=basedir,
                    socket_dir=basedir,
                    logfile=logfile,
                )
                atexit.register(server.stop)
                return server
            last_error = (
                f"pg_ctl start failed (exit {started.returncode}) on port {chosen}:\n"
                f"{(started.stdout + started.stderr).strip()}\n"
                f"--- server log (last {_LOG_TAIL_LINES} lines) ---\n"
                f"{_tail(logfile, _LOG_TAIL_LINES)}"
            )
            # A port taken between _free_port() and bind is the only failure worth retrying;
            # stop any half-started postmaster before the next attempt.
            if (datadir / "postmaster.pid").exists():
                _run_pg([str(bindir / "pg_ctl"), "stop", "-D", str(datadir), "-m", "immediate"],
                        cwd=basedir)
            if "could not bind" not in _tail(logfile, _LOG_TAIL_LINES) and \
                    "Address already in use" not in _tail(logfile, _LOG_TAIL_LINES):
                break
        raise ServerError(last_error)
    except BaseException:
        shutil.rmtree(basedir, ignore_errors=True)
        raise
