"""SQL text a plan runs with, shared by the planner (which writes it into steps), the renderers (psql
files) and the executor (which runs backfills batch by batch): guarded transactions, dollar quoting,
keyset batches. Every identifier goes through migspec.names.quote_ident; every statement built here
is re-parsed by the tests."""

from __future__ import annotations

import re

from migspec.names import QualifiedName, identifier, quote_ident, quote_literal
from migspec.planfile.model import Backfill


def q(name: str) -> str:
    return quote_ident(name)


def cols(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(q(n) for n in names)


def interval(seconds: float) -> str:
    return quote_literal(f"{max(1, round(seconds * 1000))}ms")


def guarded_statements(statements: tuple[str, ...], lock_timeout_s: float | None,
                       statement_timeout_s: float | None) -> list[str]:
    """One short transaction with SET LOCAL timeouts (never session-level: poolers leak them)."""
    body = ["BEGIN"]
    if lock_timeout_s is not None:
        body.append(f"SET LOCAL lock_timeout = {interval(lock_timeout_s)}")
    if statement_timeout_s is not None:
        body.append(f"SET LOCAL statement_timeout = {interval(statement_timeout_s)}")
    return body + [s.rstrip(";") for s in statements] + ["COMMIT"]


def guarded(statements: tuple[str, ...], lock_timeout_s: float | None, statement_timeout_s: float | None) -> str:
    return "\n".join(s + ";" for s in guarded_statements(statements, lock_timeout_s, statement_timeout_s))


def dollar_quote(body: str, tag: str = "migspec") -> str:
    """``$tag$body$tag$`` with a tag chosen so that the body cannot end the string early.

    The body may hold user text (a literal re-printed by pglast inside a trigger function or a DO
    block): a user string ``'A$migspec$; DROP TABLE t; SELECT $migspec$'`` would otherwise close
    the quote and turn the rest into statements of their own. PostgreSQL ends a dollar-quoted
    string at the first occurrence of its closing tag (sql-syntax-lexical.html, "Dollar-Quoted
    String Constants"), so the tag is numbered until that first occurrence is the closing one -
    also when the body ends in a prefix of it."""
    n = 0
    while True:
        delimiter = f"${tag}{'' if n == 0 else f'_{n}'}$"
        if (body + delimiter).find(delimiter) == len(body):
            return f"{delimiter}{body}{delimiter}"
        n += 1


def escape_percent(fragment: str) -> str:
    """Escape a SQL fragment for a statement that also carries %s placeholders: the user's own
    ``%`` (modulo, LIKE patterns, names) must not be read as one."""
    return fragment.replace("%", "%%")


def key_condition(b: Backfill, op: str, n: int, alias: str | None = None) -> str:
    keys = ", ".join(f"{alias}.{q(k)}" for k in b.key) if alias else cols(b.key)
    return f"({escape_percent(keys)}) {op} ({', '.join(['%s'] * n)})"


def walk_table(b: Backfill) -> QualifiedName:
    """The table whose primary key the keyset cursor walks."""
    return b.source or b.table


def written_column(column: str) -> str:
    """The backup column holding the value a batch wrote into ``column``."""
    return identifier(f"{column}__migspec_written")


def restore_statement(b: Backfill, lower: bool) -> str:
    """One batch of a restore (Backfill.source set); parameters as batch_statements."""
    assert b.source is not None
    conds = [key_condition(b, "<=", len(b.key), "s")]
    if lower:
        conds.insert(0, key_condition(b, ">", len(b.key), "s"))
    table, source = escape_percent(b.table.sql), escape_percent(b.source.sql)
    if not b.assignments:
        return (f"INSERT INTO {table} SELECT s.* FROM {source} AS s WHERE {' AND '.join(conds)} "
                "ON CONFLICT DO NOTHING")
    conds.insert(0, " AND ".join(f"t.{escape_percent(q(k))} = s.{escape_percent(q(k))}" for k in b.key))
    conds.append(f"({escape_percent(b.predicate)})")
    sets = ", ".join(f"{escape_percent(q(c))} = {escape_percent(e)}" for c, e in b.assignments)
    return f"UPDATE {table} AS t SET {sets} FROM {source} AS s WHERE {' AND '.join(conds)}"


def batch_statements(b: Backfill, lower: bool) -> list[str]:
    """The batch's statements; parameters: [lower key..., ] upper key..., bound key...

    With a backup the batch is ONE statement: the rows it changes and the old values it saves
    come from the same locked row versions. Two statements (INSERT INTO backup SELECT ..., then
    UPDATE) each take their own snapshot under READ COMMITTED: a row an application inserted or
    updated between them was changed without its old value saved (or saved stale), and the DOWN
    then lost the application's write. The last statement returns the number of rows changed
    (a row count, or one row with a count)."""
    if b.source is not None:
        return [restore_statement(b, lower)]
    conds = [key_condition(b, "<=", len(b.key))]
    if lower:
        conds.insert(0, key_condition(b, ">", len(b.key)))
    if b.where:
        conds.append(f"({escape_percent(b.where)})")
    conds.append(f"({escape_percent(b.predicate)})")
    where = " AND ".join(conds)
    table = escape_percent(b.table.sql)
    if b.backup is None:
        if b.delete:
            return [f"DELETE FROM {table} WHERE {where}"]
        sets = ", ".join(f"{escape_percent(q(c))} = {escape_percent(e)}" for c, e in b.assignments)
        return [f"UPDATE {table} SET {sets} WHERE {where}"]
    backup = escape_percent(b.backup.sql)
    if b.delete:
        # RETURNING gives exactly the row versions deleted (re-checked after any lock wait).
        return [f"WITH migspec_gone AS (DELETE FROM {table} WHERE {where} RETURNING *), "
                f"migspec_saved AS (INSERT INTO {backup} SELECT * FROM migspec_gone ON CONFLICT DO NOTHING) "
                "SELECT count(*) FROM migspec_gone"]
    # The old values: the batch's rows locked first (FOR NO KEY UPDATE re-reads a row changed
    # meanwhile and re-checks the filter), then updated by key and returned with their old values.
    saved = b.key + b.backup_columns
    alias = [q(f"migspec_old_{i}") for i in range(len(saved))]
    # With keep_written the backup also gets the values written (RETURNING gives the new row).
    written = tuple(written_column(c) for c in b.backup_columns) if b.keep_written else ()
    # Applied again after a rollback, the newest old value is the one to restore: a row is
    # changed once per walk, so a conflict means an earlier walk's (stale) backup row.
    on_conflict = (f"ON CONFLICT ({escape_percent(cols(b.key))}) DO UPDATE SET "
                   + ", ".join(f"{escape_percent(q(c))} = EXCLUDED.{escape_percent(q(c))}"
                               for c in b.backup_columns + written)) if written else "ON CONFLICT DO NOTHING"
    picked = ", ".join(f"{escape_percent(q(c))} AS {a}" for c, a in zip(saved, alias))
    join = " AND ".join(f"{table}.{escape_percent(q(k))} = migspec_old.{a}" for k, a in zip(b.key, alias))
    sets = ", ".join(f"{escape_percent(q(c))} = {escape_percent(e)}" for c, e in b.assignments)
    returned = ", ".join([f"migspec_old.{a}" for a in alias]
                         + [f"{table}.{escape_percent(q(c))}" for c in (b.backup_columns if written else ())])
    return [f"WITH migspec_old AS (SELECT {picked} FROM {table} WHERE {where} FOR NO KEY UPDATE), "
            f"migspec_new AS (UPDATE {table} SET {sets} FROM migspec_old WHERE {join} RETURNING {returned}), "
            f"migspec_saved AS (INSERT INTO {backup} ({escape_percent(cols(saved + written))}) SELECT * FROM migspec_new "
            f"{on_conflict}) SELECT count(*) FROM migspec_new"]



def _placeholders_to(sql: str, values: list[str]) -> str:
    """Fill %s placeholders in order with ``values`` and turn %% back into %: the executor's
    parameterised batch as literal PL/pgSQL."""
    it = iter(values)
    return re.sub(r"%%|%s", lambda m: "%" if m.group(0) == "%%" else next(it), sql)


def _record_cmp(key: tuple[str, ...], op: str, rec: str) -> str:
    return f"({cols(key)}) {op} (" + ", ".join(f"{rec}.{q(k)}" for k in key) + ")"


def backfill_do_block(b: Backfill) -> str:
    """A psql-runnable loop: keyset batches on the primary key, COMMIT after each (a top-level DO
    block may COMMIT since PostgreSQL 11), a pause between batches. Idempotent: a re-run skips rows
    the predicate says are done. Each batch is the executor's own statement (batch_statements)
    with its bounds read from the lo/hi records."""
    key = cols(b.key)
    desc = ", ".join(f"{q(k)} DESC" for k in b.key)
    walk = walk_table(b).sql
    first = (f"SELECT {key} INTO hi FROM (SELECT {key} FROM {walk} ORDER BY {key} LIMIT {b.batch_size}) s "
             f"ORDER BY {desc} LIMIT 1")
    nxt = (f"SELECT {key} INTO hi FROM (SELECT {key} FROM {walk} WHERE {_record_cmp(b.key, '>', 'lo')} "
           f"ORDER BY {key} LIMIT {b.batch_size}) s ORDER BY {desc} LIMIT 1")
    lo = [f"lo.{q(k)}" for k in b.key]
    hi = [f"hi.{q(k)}" for k in b.key]

    def batch(lower: bool) -> str:
        stmts = [_placeholders_to(s, (lo + hi) if lower else hi) for s in batch_statements(b, lower)]
        # A statement ending in SELECT count(*) needs a destination in PL/pgSQL.
        return ";\n      ".join(s.replace("SELECT count(*) FROM", "SELECT count(*) INTO n FROM") for s in stmts)

    return "DO " + dollar_quote(
        "\nDECLARE\n  lo record;\n  hi record;\n  n bigint;\n  started boolean := false;\n"
        "BEGIN\n  LOOP\n"
        f"    IF NOT started THEN\n      {first};\n    ELSE\n      {nxt};\n    END IF;\n"
        "    EXIT WHEN NOT FOUND;\n"
        f"    IF NOT started THEN\n      {batch(False)};\n"
        f"    ELSE\n      {batch(True)};\n    END IF;\n"
        "    lo := hi;\n    started := true;\n    COMMIT;\n"
        f"    PERFORM pg_sleep({b.pause_seconds:g});\n"
        "  END LOOP;\nEND\n"
    )
