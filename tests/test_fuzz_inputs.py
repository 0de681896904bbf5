"""Fuzzing the front door: generated hostile inputs fed to lint, plan, approve, apply, rollback,
measure and verify argument parsing and file loading.

Each example is one ``migspec.cli.main(argv)`` call, in this process for speed (a sample also runs
as a real process). The inputs: random bytes; SQL with hostile names and literals (quotes, dollar
signs, NUL, line breaks, unicode, ``$migspec$``), nesting thousands deep and huge numbers; stats
files and JSON plans mutated from real ones (wrong types, duplicate keys, aliases, tags, deep
nesting, truncation); argv of random flags and values; malformed and unreachable DSNs carrying a
password. The oracle, for every example: an exit code documented for these commands (0, 1, 2, 3),
no traceback and no internal error, a non-zero exit explained on stderr by ``migspec: ...`` (one
line for exit 2), no password anywhere in the output, and output of bounded size.

A seeded generator (``MIGSPEC_FUZZ_SEED``, default 9) makes every failure reproducible: the
message names the example's number and its input. ``MIGSPEC_FUZZ_EXAMPLES`` (default 10,000)
runs more.
"""

from __future__ import annotations

import contextlib
import faulthandler
import io
import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers_apply import ROOT
from migspec.cli import main
from migspec.names import quote_ident

EXAMPLES = int(os.environ.get("MIGSPEC_FUZZ_EXAMPLES", "10000"))
SEED = int(os.environ.get("MIGSPEC_FUZZ_SEED", "9"))
#: An example that takes longer than this is a hang: dump every thread's stack and stop.
HANG_SECONDS = 120
MAX_OUTPUT = 2_000_000

HOSTILE = ["'", '"', "$$", "$migspec$", "$migspec_1$", "\x00", "\\", "\n", "\r", "\u2028", "é", "\U0001f600",
           "\ufeff", "%s", "%%", "{", "}", "[", "]", "--", "/*", "*/", ";", "\t", "x" * 70, "`", ":", "&a", "*a",
           "!!python/object:os.system", "NaN", "1e999", "9" * 60, "-1", "<<", "? ", "- ", "\x1b[31m", "\ud800"]

BASE_SQL = [
    "ALTER TABLE orders ADD COLUMN {c} text;",
    "ALTER TABLE orders ADD COLUMN {c} int NOT NULL DEFAULT {v};",
    "ALTER TABLE orders RENAME COLUMN note TO {c};",
    "ALTER TABLE orders ALTER COLUMN note TYPE varchar(20) USING note || {lit};",
    "UPDATE orders SET note = {lit} WHERE note IS NULL;",
    "CREATE INDEX {c} ON orders (note);",
    "ALTER TABLE orders ADD CONSTRAINT {c} CHECK (amount > {v});",
    "ALTER TABLE orders DROP COLUMN note;",
    "DELETE FROM orders WHERE note = {lit};",
    "ALTER TABLE orders ALTER COLUMN amount SET NOT NULL;",
    "CREATE TABLE {c} (id bigint PRIMARY KEY, v text DEFAULT {lit});",
    "ALTER TABLE orders ADD COLUMN {c} int[] DEFAULT {deep};",
]
STATS = {
    "pg_version": 16, "source": "production", "maintenance_window": "none",
    "tables": {"public.orders": {
        "rows": 1_000_000, "write_qps": 50, "size_bytes": 80_000_000,
        "lock_contention": {"longest_transaction_seconds": 1, "lock_waits_per_minute": 0},
        "columns": {"id": "bigint", "note": "text", "amount": "integer"},
        "schema": {"columns": [{"name": "id", "type": "bigint", "not_null": True},
                               {"name": "note", "type": "text"},
                               {"name": "amount", "type": "integer", "not_null": True, "default": "0"}],
                   "primary_key": ["id"], "indexes": {"orders_pkey": "CREATE UNIQUE INDEX orders_pkey ON "
                                                                     "public.orders USING btree (id)"}}}},
}


@dataclass
class Example:
    argv: list[str]
    files: dict[str, bytes] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)


class Generator:
    def __init__(self, rnd: random.Random, work: Path, plan_doc: dict[str, Any]) -> None:
        self.r, self.work, self.plan_doc = rnd, work, plan_doc

    # --- values ---------------------------------------------------------------------------------
    def text(self, n: int = 4) -> str:
        parts = [self.r.choice(HOSTILE) if self.r.random() < 0.5 else self.r.choice("abcXYZ_0 ")
                 for _ in range(self.r.randint(1, n))]
        return "".join(parts)

    def deep(self) -> str:
        n = self.r.choice([1, 5, 90, 99, 101, 200, 3000, 20_000])
        opener, closer = self.r.choice([("ARRAY[", "]"), ("(", ")"), ("abs(", ")")])
        return opener * n + "1" + closer * n

    def number(self) -> str:
        return self.r.choice(["0", "1", "-1", "9" * self.r.choice([3, 19, 20, 41, 5000]), "1e999", "0.5", "NaN"])

    def sql(self) -> str:
        stmts = []
        for _ in range(self.r.randint(1, 4)):
            template = self.r.choice(BASE_SQL)
            name = self.text(3)
            try:
                c = quote_ident(name)
            except ValueError:
                c = '"x"'
            lit = "'" + self.text(3).replace("'", "''") + "'"
            stmt = template.format(c=c, v=self.number() if self.r.random() < 0.3 else "1", lit=lit,
                                   deep=self.deep() if self.r.random() < 0.5 else "ARRAY[1]")
            if self.r.random() < 0.25:  # break it somewhere
                at = self.r.randrange(len(stmt) + 1)
                stmt = stmt[:at] + self.text(2) + stmt[at:]
            stmts.append(stmt)
        if self.r.random() < 0.1:
            stmts.append("-- migspec: allow " + self.text(2))
        return "\n".join(stmts) + "\n"

    def encode(self, text: str) -> bytes:
        return text.encode("utf-8", "surrogatepass")

    def random_bytes(self) -> bytes:
        n = self.r.choice([0, 1, 3, 50, 500])
        return bytes(self.r.randrange(256) for _ in range(n))

    # --- documents ------------------------------------------------------------------------------
    def mutate(self, doc: Any, depth: int = 0) -> Any:
        """A copy of ``doc`` with a few values replaced, removed or nested."""
        if isinstance(doc, dict) and doc and self.r.random() < 0.8:
            doc = dict(doc)
            key = self.r.choice(list(doc))
            roll = self.r.random()
            if roll < 0.15:
                del doc[key]
            elif roll < 0.25:
                doc[self.text(2)] = doc[key]
            elif roll < 0.75 or depth > 6:
                doc[key] = self.hostile_value()
            else:
                doc[key] = self.mutate(doc[key], depth + 1)
            return doc
        if isinstance(doc, list) and doc and self.r.random() < 0.8:
            doc = list(doc)
            i = self.r.randrange(len(doc))
            doc[i] = self.mutate(doc[i], depth + 1) if self.r.random() < 0.5 else self.hostile_value()
            return doc
        return self.hostile_value()

    def hostile_value(self) -> Any:
        roll = self.r.randrange(12)
        if roll == 0:
            return None
        if roll == 1:
            return self.r.choice([True, False])
        if roll == 2:
            return int(self.r.choice(["-1", "0", "7", "9" * 25]))
        if roll == 3:
            return self.r.choice([0.5, -3.5, 1e308])
        if roll == 4:
            return []
        if roll == 5:
            return {}
        if roll == 6:
            nest: Any = 1
            for _ in range(self.r.choice([3, 40, 500])):
                nest = [nest]
            return nest
        if roll == 7:
            return {self.text(2): self.text(3)}
        return self.text(4)

    def dump(self, doc: Any, as_json: bool) -> str:
        try:
            text = json.dumps(doc) if as_json else yaml.safe_dump(doc, allow_unicode=True)
        except (RecursionError, ValueError, yaml.YAMLError):
            text = "{}"
        roll = self.r.random()
        if roll < 0.1 and len(text) > 2:  # a duplicate key, textually
            text = text.replace('"rows": ', '"rows": 1, "rows": ', 1) if as_json else \
                text.replace("rows: ", "rows: 1\n    rows: ", 1)
        elif roll < 0.2:  # truncated
            text = text[: self.r.randrange(len(text) + 1)]
        elif roll < 0.3:  # a hostile fragment anywhere
            at = self.r.randrange(len(text) + 1)
            text = text[:at] + self.r.choice(HOSTILE + ["&x ", "*x", "!!set ", "<<: ", "[" * 3000]) + text[at:]
        elif roll < 0.35:
            text = text.replace("1000000", self.number(), 1)
        return text

    # --- examples -------------------------------------------------------------------------------
    def path(self, name: str) -> str:
        return str(self.work / name)

    def measured(self) -> list[str]:
        if self.r.random() < 0.5:
            return ["--stats", self.path("stats.yaml")]
        return ["--rows", "orders=5", "--write-qps", "orders=1", "--longest-transaction", "orders=0",
                "--lock-waits", "orders=0"]

    def example(self) -> Example:
        kind = self.r.choices(["argv", "sql", "bytes", "stats", "plan", "dsn"], [15, 30, 8, 20, 20, 7])[0]
        return getattr(self, f"ex_{kind}")()

    def ex_argv(self) -> Example:
        cmd = self.r.choice(["lint", "plan", "approve", "apply", "rollback", "rules", "measure", "verify", "nope"])
        flags = ["--stats", "--schema", "--format", "--out", "--confirm", "--phase", "--by", "--rows", "--pg-version",
                 "--fail-on", "--calibration", "--contract-after-days", "--dry-run", "--max-lock-waits", "--dsn",
                 "--sample-seconds", "--writers", "--bogus"]
        argv = [cmd]
        for _ in range(self.r.randint(0, 5)):
            argv.append(self.r.choice(flags) if self.r.random() < 0.5 else
                        self.r.choice([self.text(3), self.number(), self.path("m.sql"), "-", "", "orders=" +
                                       self.number()]))
        if cmd == "measure" or "--dsn" in argv:  # never a real connection attempt from argv fuzzing
            argv += ["--dsn", "host=h password=" + (secret := "pw" + str(self.r.randrange(10**9))) + " port=x'"]
            return Example(argv, {"m.sql": b"SELECT 1;\n"}, (secret,))
        return Example(argv, {"m.sql": self.encode(self.sql())})

    def ex_sql(self) -> Example:
        cmd = self.r.choice(["lint", "lint", "plan"])
        argv = [cmd, self.path("m.sql"), *self.measured()]
        files = {"m.sql": self.encode(self.sql()), "stats.yaml": yaml.safe_dump(STATS).encode()}
        if self.r.random() < 0.3:
            files["schema.sql"] = self.encode("CREATE TABLE orders (id bigint PRIMARY KEY, note text, amount int "
                                              f"DEFAULT {self.deep() if self.r.random() < 0.5 else '0'});\n"
                                              + self.sql())
            argv += ["--schema", self.path("schema.sql")]
        if cmd == "plan" and self.r.random() < 0.3:
            argv += ["--out", self.path("out")]
        argv += ["--format", self.r.choice(["json", "text", "sarif", "github"] if cmd == "lint" else
                                           ["json", "text", "markdown"])]
        return Example(argv, files)

    def ex_bytes(self) -> Example:
        target = self.r.choice(["sql", "stats", "schema", "plan", "calibration"])
        data = self.random_bytes()
        argv = {"sql": ["lint", self.path("x.sql")],
                "stats": ["lint", self.path("ok.sql"), "--stats", self.path("x.sql")],
                "schema": ["plan", self.path("ok.sql"), *self.measured(), "--schema", self.path("x.sql")],
                "plan": ["apply", self.path("x.sql"), "--phase", "expand", "--dry-run"],
                "calibration": ["lint", self.path("ok.sql"), "--calibration", self.path("x.sql")]}[target]
        return Example(argv, {"x.sql": data, "ok.sql": b"SELECT 1;\n", "stats.yaml": yaml.safe_dump(STATS).encode()})

    def ex_stats(self) -> Example:
        as_json = self.r.random() < 0.5
        name = "stats.json" if as_json and self.r.random() < 0.7 else "stats.yaml"
        text = self.dump(self.mutate(STATS), as_json)
        argv = [self.r.choice(["lint", "plan"]), self.path("m.sql"), "--stats", self.path(name)]
        sql = "ALTER TABLE orders ADD COLUMN c int NOT NULL DEFAULT 0;\nUPDATE orders SET note = 'x';\n"
        return Example(argv, {name: self.encode(text), "m.sql": sql.encode()})

    def ex_plan(self) -> Example:
        text = self.dump(self.mutate(self.plan_doc), True)
        plan = self.path("plan.json")
        roll = self.r.random()
        if roll < 0.3:
            argv = ["approve", plan, "--by", self.text(2) or "x"] + \
                (["--confirm", self.text(2)] if self.r.random() < 0.3 else [])
        else:
            argv = [self.r.choice(["apply", "rollback"]), plan, "--phase",
                    self.r.choice(["expand", "migrate", "contract"]), "--dry-run"]
        return Example(argv, {"plan.json": self.encode(text)})

    def ex_dsn(self) -> Example:
        secret = "Pw" + str(self.r.randrange(10**9)) + self.r.choice(["", "%", "'", " x", "@", "$"])
        dsn = self.r.choice([
            f"postgresql://u:{secret}@[::1:5/db", f"host=h password={secret} dbname", f"password={secret}",
            f"postgresql://u:{secret}%zz@host/db", f"host=h password='{secret}", f"{secret}",
            f"host=127.0.0.1 port=1 connect_timeout=1 password='{secret}' dbname=x",
            f"postgresql://u:{secret}@127.0.0.1:1/x?connect_timeout=1",
        ])
        cmd = self.r.choice(["apply", "rollback", "measure", "verify"])
        plan = self.path("plan.json")
        argv = {"apply": ["apply", plan, "--phase", "expand", "--dsn", dsn],
                "rollback": ["rollback", plan, "--phase", "expand", "--dsn", dsn],
                "measure": ["measure", "--tables", "orders", "--sample-seconds", "0.1", "--dsn", dsn],
                "verify": ["verify", plan, "--dsn", dsn]}[cmd]
        if cmd == "verify" and "port=1" in dsn or "127.0.0.1:1" in dsn and cmd == "verify":
            argv[-1] = dsn.replace("port=1", "port=1 x")  # verify would plan first; keep it to argument parsing
        return Example(argv, {"plan.json": json.dumps(self.plan_doc).encode()}, (secret.strip("'% $@x"),),
                       env={"PGPASSWORD": "Env" + secret} if self.r.random() < 0.3 else {})


def _check(ex: Example, i: int, rc: int, out: str, err: str) -> None:
    where = (f"example {i} (MIGSPEC_FUZZ_SEED={SEED}): argv={[a[:200] for a in ex.argv]!r} "
             f"files={ {k: v[:300] for k, v in ex.files.items()} }")
    assert rc in (0, 1, 2, 3), f"exit {rc}; {where}\n{err[-2000:]}"
    assert "Traceback" not in err and "internal error" not in err, f"{where}\n{err[-3000:]}"
    assert len(out) + len(err) < MAX_OUTPUT, f"{len(out) + len(err)} characters of output; {where}"
    if rc != 0 and not (rc == 1 and ex.argv[0] in ("lint", "verify")):
        lines = err.strip().splitlines()
        assert lines and lines[-1 if rc != 3 else 0].startswith("migspec: "), f"{where}\n{err[-2000:]}"
        if rc == 2:
            assert len(lines) == 1, f"{where}\n{err[-2000:]}"
    for secret in (*ex.secrets, *ex.env.values()):
        if len(secret) >= 4:
            assert secret not in out and secret not in err, f"password {secret!r} printed; {where}\n{err}"


def _run_inprocess(ex: Example, work: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    for name, data in ex.files.items():
        (work / name).write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    with monkeypatch.context() as m:
        for k, v in ex.env.items():
            m.setenv(k, v)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(ex.argv)
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def plan_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real JSON plan (rename, retype, backfill, drop): the base the plan mutations start from."""
    work = tmp_path_factory.mktemp("fuzzbase")
    (work / "m.sql").write_text("ALTER TABLE orders RENAME COLUMN note TO remark;\n"
                                "ALTER TABLE orders ALTER COLUMN amount TYPE bigint;\n"
                                "UPDATE orders SET amount = 0 WHERE amount IS NULL;\n"
                                "ALTER TABLE orders DROP COLUMN remark;\n")
    (work / "s.yaml").write_text(yaml.safe_dump(STATS))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["plan", str(work / "m.sql"), "--stats", str(work / "s.yaml"), "--format", "json",
                   "--confirm", "public.orders.remark"])
    assert rc == 0, err.getvalue()
    return json.loads(out.getvalue())


def test_hostile_inputs_in_process(plan_doc: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gen = Generator(random.Random(SEED), tmp_path, plan_doc)
    seen: dict[int, int] = {}
    for i in range(EXAMPLES):
        ex = gen.example()
        faulthandler.dump_traceback_later(HANG_SECONDS, exit=True)
        try:
            rc, out, err = _run_inprocess(ex, tmp_path, monkeypatch)
        finally:
            faulthandler.cancel_dump_traceback_later()
        _check(ex, i, rc, out, err)
        seen[rc] = seen.get(rc, 0) + 1
        for leftover in ("plan.json.approval",):
            (tmp_path / leftover).unlink(missing_ok=True)
    # The generator reaches every outcome, so the oracle is exercised on each.
    assert set(seen) >= {0, 1, 2, 3}, seen


def test_hostile_inputs_as_real_processes(plan_doc: dict[str, Any], tmp_path: Path) -> None:
    """A sample through the installed entry point: argv as the OS passes it (no NUL), stdout and
    stderr as pipes."""
    gen = Generator(random.Random(SEED + 1), tmp_path, plan_doc)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    run = 0
    while run < 12:
        ex = gen.example()
        if any("\x00" in a or "\ud800" in a for a in ex.argv):
            continue
        run += 1
        for name, data in ex.files.items():
            (tmp_path / name).write_bytes(data)
        r = subprocess.run([sys.executable, "-m", "migspec", *ex.argv], capture_output=True, timeout=HANG_SECONDS,
                           env={**env, **ex.env}, cwd=tmp_path)
        _check(ex, run, r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace"))
