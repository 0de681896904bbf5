"""No password in any output, for every DSN form and every command that takes --dsn.

Malformed DSNs (the issue's reproducers: a URI with a broken IPv6 host, an unquoted space in a
password, a bad %-escape) are one line ``migspec: ...``, exit 2, naming no part of the DSN;
a DSN split by the shell into several words is refused without echoing them; an exception
nothing expected is one line with every password masked (exit 70). On a real server: apply and
rollback through a URI with a password, PGPASSWORD, a password file and a service file leave the
password in no output, no state table row and no plan or approval file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from helpers_apply import make_plan, migspec, migspec_inproc, setup_sql
from migspec import cli, dsn
from migspec.errors import EXIT_INTERNAL

PASSWORD = "S3cret"

MALFORMED = {
    "uri-broken-ipv6": f"postgresql://u:{PASSWORD}@[::1:5/db",
    "unquoted-space": f"host=h password=my {PASSWORD}",
    "bad-percent-escape": f"postgresql://u:{PASSWORD}%zz@host/db",
    "unterminated-quote": f"host=h password='{PASSWORD}",
    "no-equals": f"host=h {PASSWORD}",
    "bad-uri-query": f"postgresql://u@h/db?password={PASSWORD}&bogus",
}

COMMANDS = {
    "apply": ["apply", "{plan}", "--phase", "expand", "--dsn", "{dsn}"],
    "rollback": ["rollback", "{plan}", "--phase", "expand", "--dsn", "{dsn}"],
    "verify": ["verify", "{plan}", "--dsn", "{dsn}"],
    "measure": ["measure", "--tables", "t", "--dsn", "{dsn}"],
}


@pytest.fixture
def empty_plan(tmp_path: Path) -> Path:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"migration": "m", "phases": []}), encoding="utf-8")
    assert migspec_inproc("approve", str(plan), "--by", "t").returncode == 0
    return plan


def _one_clean_line(err: str, *secrets: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("migspec: "), err
    assert "Traceback" not in err
    for s in secrets:
        assert s not in err, err


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_dsn_is_one_line_exit_2_without_the_password(command: str, case: str, empty_plan: Path) -> None:
    argv = [a.format(plan=empty_plan, dsn=MALFORMED[case]) for a in COMMANDS[command]]
    r = migspec_inproc(*argv)
    assert r.returncode == 2, (r.stdout, r.stderr)
    _one_clean_line(r.stderr, PASSWORD, "zz", "my ")
    assert "not a valid connection string" in r.stderr
    assert PASSWORD not in r.stdout


def test_malformed_dsn_in_a_real_process(empty_plan: Path) -> None:
    r = migspec("apply", str(empty_plan), "--phase", "expand", "--dsn", MALFORMED["uri-broken-ipv6"])
    assert r.returncode == 2
    _one_clean_line(r.stderr, PASSWORD)


@pytest.mark.parametrize("command", ["apply", "verify"])
def test_a_dsn_split_by_the_shell_is_not_echoed(command: str, empty_plan: Path) -> None:
    argv = [a.format(plan=empty_plan, dsn="host=h") for a in COMMANDS[command]]
    r = migspec_inproc(*argv, f"password={PASSWORD}")
    assert r.returncode == 2
    _one_clean_line(r.stderr, PASSWORD)


def test_secrets_are_found_in_every_spelling() -> None:
    assert PASSWORD in dsn.secrets_in(f"postgresql://u:{PASSWORD}@[::1:5/db")
    assert f"my {PASSWORD}" in dsn.secrets_in(f"host=h password=my {PASSWORD} port=5")
    assert "my secret" in dsn.secrets_in("password='my secret'")
    assert "p:w" in dsn.secrets_in("postgresql://u:p%3Aw@h/db")
    assert PASSWORD in dsn.secrets_in(f"postgresql://u@h/db?sslmode=disable&password={PASSWORD}&x=1")
    # The patterns run only where casefold() finds "password" (or "://"): any spelling re's
    # IGNORECASE matches still gets there (a long s is an s to both).
    assert PASSWORD in dsn.secrets_in(f"host=h PaſSWORD={PASSWORD}")
    assert PASSWORD in dsn.secrets_in(f"POSTGRESQL://u:{PASSWORD}@h/db")


def test_an_unexpected_exception_prints_no_password(monkeypatch: pytest.MonkeyPatch, empty_plan: Path) -> None:
    """The top-level guard: one line, exit 70, the password masked wherever it came from."""
    monkeypatch.setenv("PGPASSWORD", "env-Pw-1234")

    def boom(args):  # type: ignore[no-untyped-def]
        raise RuntimeError(f"conninfo postgresql://u:{PASSWORD}@h/db and env-Pw-1234\nsecond line")

    monkeypatch.setitem(cli.COMMANDS, "apply", boom)
    r = migspec_inproc("apply", str(empty_plan), "--phase", "expand", "--dsn", f"postgresql://u:{PASSWORD}@h/db")
    assert r.returncode == EXIT_INTERNAL
    _one_clean_line(r.stderr, PASSWORD, "env-Pw-1234")
    assert "internal error" in r.stderr and "***" in r.stderr
    monkeypatch.setenv("MIGSPEC_TRACEBACK", "1")
    r = migspec_inproc("apply", str(empty_plan), "--phase", "expand", "--dsn", f"postgresql://u:{PASSWORD}@h/db")
    assert "Traceback" in r.stderr and PASSWORD not in r.stderr and "env-Pw-1234" not in r.stderr


def test_password_and_service_files_are_masked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    passfile = tmp_path / "pgpass"
    passfile.write_text("# host:port:db:user:password\n*:*:*:*:pass\\:file-pw\n", encoding="utf-8")
    passfile.chmod(0o600)
    service = tmp_path / "services.conf"
    service.write_text("[prod]\nhost=127.0.0.1\npassword = service-pw\n", encoding="utf-8")
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    monkeypatch.setenv("PGSERVICEFILE", str(service))
    assert dsn.scrub("a pass:file-pw b service-pw c") == "a *** b *** c"


# --- a real server ---------------------------------------------------------------------------------

def _everything_migspec_wrote(conn: psycopg.Connection, tmp_path: Path) -> str:
    files = "".join(p.read_text(encoding="utf-8", errors="replace") for p in tmp_path.rglob("*") if p.is_file()
                    and p.suffix != ".sql" and p.name not in {"pgpass", "services.conf"})
    rows = ""
    for (table,) in conn.execute("SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
                                 "WHERE schemaname = 'migspec'").fetchall():  # every state table there is
        rows += conn.execute(f"SELECT coalesce(string_agg(s::text, ' '), '') FROM {table} s").fetchone()[0]
    assert rows, "the state tables are empty: nothing was checked"
    return files + rows


@pytest.mark.parametrize("form", ["uri", "pgpassword", "pgpass", "service"])
def test_apply_and_rollback_leave_the_password_nowhere(form: str, pg: psycopg.Connection, pg_dsn: str, pg_server,
                                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Trust authentication accepts any password, so each form connects; then the password must
    be in no output, no state table row, no file migspec wrote - also when the server refuses
    (a database that does not exist)."""
    pg.execute(setup_sql(50))
    plan = make_plan("ALTER TABLE orders ADD COLUMN flag boolean;", server=pg_server, dsn=pg_dsn,
                     out=tmp_path / "plan.json")
    params = dict(p.split("=", 1) for p in pg_dsn.split())
    secret = f"pw-{form}-{PASSWORD}"
    if form == "uri":
        target = f"postgresql://{params['user']}:{secret}@{params['host']}:{params['port']}/{params['dbname']}"
    elif form == "pgpassword":
        monkeypatch.setenv("PGPASSWORD", secret)
        target = pg_dsn
    elif form == "pgpass":
        passfile = tmp_path / "pgpass"
        passfile.write_text(f"*:*:*:*:{secret}\n", encoding="utf-8")
        passfile.chmod(0o600)
        monkeypatch.setenv("PGPASSFILE", str(passfile))
        target = pg_dsn
    else:
        service = tmp_path / "services.conf"
        service.write_text(f"[target]\nhost={params['host']}\nport={params['port']}\nuser={params['user']}\n"
                           f"password={secret}\n", encoding="utf-8")
        monkeypatch.setenv("PGSERVICEFILE", str(service))
        target = f"service=target dbname={params['dbname']}"
    outputs = [migspec_inproc("approve", str(plan), "--by", "t")]
    outputs.append(migspec_inproc("apply", str(plan), "--phase", "expand", "--dsn", target))
    assert outputs[-1].returncode == 0, outputs[-1].stderr
    state = _everything_migspec_wrote(pg, tmp_path)  # before the rollback forgets the steps
    outputs.append(migspec_inproc("rollback", str(plan), "--phase", "expand", "--dsn", target))
    assert outputs[-1].returncode == 0, outputs[-1].stderr
    wrong = target.replace(params["dbname"], "no_such_db")
    outputs.append(migspec_inproc("apply", str(plan), "--phase", "expand", "--dsn", wrong))
    assert outputs[-1].returncode == 2 and "no_such_db" in outputs[-1].stderr
    _one_clean_line(outputs[-1].stderr, secret)
    seen = "".join(o.stdout + o.stderr for o in outputs) + state
    assert secret not in seen


def test_a_worker_thread_failure_is_one_line_without_the_password(monkeypatch: pytest.MonkeyPatch,
                                                                  empty_plan: Path) -> None:
    import threading

    def boom(args):  # type: ignore[no-untyped-def]
        def fail() -> None:
            raise RuntimeError(f"writer could not connect to postgresql://u:{PASSWORD}@h/db")

        t = threading.Thread(target=fail, name="writer-1")
        t.start()
        t.join()
        return 0

    monkeypatch.setitem(cli.COMMANDS, "apply", boom)
    r = migspec_inproc("apply", str(empty_plan), "--phase", "expand", "--dsn", f"postgresql://u:{PASSWORD}@h/db")
    assert r.returncode == 0
    _one_clean_line(r.stderr, PASSWORD)
    assert "background thread (writer-1) stopped: RuntimeError" in r.stderr


def test_a_thread_started_by_a_module_imported_later_still_reports_one_line() -> None:
    """The hook is set when threading is imported, not before (lint never imports it): a command
    whose threading comes after the command began still gets one line, and the hook before it
    is back afterwards."""
    code = ("import sys\nassert 'threading' not in sys.modules\nfrom migspec import cli\n"
            "with cli._threads_report_one_line():\n"
            "    assert 'threading' not in sys.modules\n"
            "    import threading\n"
            "    t = threading.Thread(target=lambda: 1 / int('0'), name='writer-7')\n"
            "    t.start(); t.join()\n"
            "print(threading.excepthook is threading.__excepthook__)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "True\n"
    assert done.stderr == "migspec: a background thread (writer-7) stopped: ZeroDivisionError: division by zero\n"


def test_after_import_runs_now_or_after_the_module_s_code() -> None:
    code = ("import sys\nfrom migspec.deferred import after_import\nseen = []\n"
            "after_import('sys', lambda m: seen.append(('now', m.__name__)))\n"
            "cancel = after_import('colorsys', lambda m: seen.append(('later', hasattr(m, 'rgb_to_hsv'))))\n"
            "stop = after_import('wave', lambda m: seen.append('never'))\n"
            "stop()\nimport colorsys, wave\nprint(seen)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "[('now', 'sys'), ('later', True)]\n"
