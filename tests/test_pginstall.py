"""Servers of every major: found or installed by major, checked, clear when missing."""

from __future__ import annotations

import base64
import os
import hashlib
import subprocess
from pathlib import Path

import psycopg
import pytest

from migspec import pginstall
from migspec.pgserver import Server, ServerError, start_server, tool_path


def test_newest_npm_release_per_major_by_number_not_text() -> None:
    versions = ["13.9.0-beta.9", "13.23.0-beta.15", "13.23.0-beta.16", "14.1.0", "130.1.0"]
    assert pginstall.newest_npm_version(13, versions) == "13.23.0-beta.16"
    assert pginstall.newest_npm_version(14, versions) == "14.1.0"
    assert pginstall.newest_npm_version(12, versions) is None


def test_a_tarball_that_does_not_match_the_registry_is_refused(tmp_path: Path) -> None:
    tarball = tmp_path / "pkg.tgz"
    tarball.write_bytes(b"the bytes the registry published")
    good = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    sha1 = hashlib.sha1(tarball.read_bytes()).hexdigest()
    pginstall._verify_integrity(tarball, good, sha1)  # the genuine file passes
    tarball.write_bytes(b"the bytes the registry published!")
    with pytest.raises(pginstall.InstallError, match="does not match"):
        pginstall._verify_integrity(tarball, good, None)
    with pytest.raises(pginstall.InstallError, match="integrity string"):
        pginstall._verify_integrity(tarball, "md5-abc", None)


def test_a_missing_major_names_the_command_that_installs_it(monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    monkeypatch.setenv(pginstall.CACHE_ENV, str(tmp_path / "empty-cache"))
    monkeypatch.delenv(pginstall.BINDIR_ENV, raising=False)
    missing = next(m for m in pginstall.SUPPORTED_MAJORS if pginstall.server_bindir(m) is None)
    with pytest.raises(ServerError, match=rf"no PostgreSQL {missing} server.*migspec.pginstall install {missing}"):
        start_server(major=missing)
    assert pginstall.main(["which", str(missing)]) == 1


def test_the_cache_is_readable_by_the_server_user() -> None:
    """As root the server runs as ``postgres``: every cached major must be runnable by it (root's
    home is 0700, hence /var/cache)."""
    cached = [tc for tc in pginstall.known_toolchains() if tc.source.startswith("cache:")]
    if not cached:
        pytest.fail(f"nothing installed in {pginstall.cache_root()}: run "
                    "`python -m migspec.pginstall install 13 18`", pytrace=False)
    for tc in cached:
        assert pginstall.cache_root() in tc.bindir.parents
        argv = [str(tc.bindir / "postgres"), "-V"]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        out = subprocess.run(argv, capture_output=True, text=True, check=False)
        assert out.returncode == 0, (tc, out.stderr)
        assert f"(PostgreSQL) {tc.major}." in out.stdout


def test_client_programs_of_a_newer_major_serve_this_server(pg_server: Server, pg_dsn: str) -> None:
    """The npm servers have no clients: tool() hands out one of the same or a newer major, and
    it works (psql and pg_dump against this server)."""
    psql = pg_server.tool("psql")
    out = subprocess.run([str(psql), "-X", "-At", "-d", pg_dsn, "-c", "SHOW server_version_num"],
                         capture_output=True, text=True, check=True)
    assert int(out.stdout) == pg_server.version_num
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE dumped (id int PRIMARY KEY)")
    dump = subprocess.run([str(pg_server.tool("pg_dump")), "-s", "-d", pg_dsn], capture_output=True, text=True,
                          check=True)
    assert "CREATE TABLE public.dumped" in dump.stdout
    # pg_upgrade must be of the target major: exact=True never substitutes a newer one.
    try:
        upgrade = tool_path("pg_upgrade", pg_server.major, exact=True)
    except ServerError as exc:
        assert f"PostgreSQL {pg_server.major}" in str(exc)
    else:
        version = subprocess.run([str(upgrade), "-V"], capture_output=True, text=True, check=True).stdout
        assert f"(PostgreSQL) {pg_server.major}." in version
