"""SQL text the planner emits. Every identifier goes through migspec.names.quote_ident; user
expressions are re-printed by pglast (migspec.plan.facts.sql_of). Every statement built here is
re-parsed by the tests."""

from __future__ import annotations

from migspec.names import QualifiedName, quote_ident, quote_literal
from migspec.plan.model import Backfill

BACKUP_SCHEMA = "migspec_backup"


def q(name: str) -> str:
    return quote_ident(name)


def cols(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(q(n) for n in names)


def interval(seconds: float) -> str:
    return quote_literal(f"{max(1, round(seconds * 1000))}ms")


def guarded(statements: tuple[str, ...], lock_timeout_s: float | None, statement_timeout_s: float | None) -> str:
    """One short transaction with SET LOCAL timeouts (never session-level: poolers leak them)."""
    body = []
    if lock_timeout_s is not None:
        body.append(f"SET LOCAL lock_timeout = {interval(lock_timeout_s)};")
    if statement_timeout_s is not None:
        body.append(f"SET LOCAL statement_timeout = {interval(statement_timeout_s)};")
    body += [s.rstrip(";") + ";" for s in statements]
    return "BEGIN;\n" + "\n".join(body) + "\nCOMMIT;"


def _cmp(key: tuple[str, ...], op: str, rec: str) -> str:
    left = "(" + cols(key) + ")"
    right = "(" + ", ".join(f"{rec}.{q(k)}" for k in key) + ")"
    return f"{left} {op} {right}"


def backfill_batch_sql(b: Backfill, lower: bool, rec_lo: str = "lo", rec_hi: str = "hi") -> str:
    """The UPDATE/DELETE of one batch between two key records (lower bound exclusive)."""
    cond = [_cmp(b.key, "<=", rec_hi)]
    if lower:
        cond.insert(0, _cmp(b.key, ">", rec_lo))
    if b.where:
        cond.append(f"({b.where})")
    cond.append(f"({b.predicate})")
    where = " AND ".join(cond)
    parts = []
    if b.backup is not None:
        bcols = cols(b.key + b.backup_columns) if not b.delete else "*"
        parts.append(f"INSERT INTO {b.backup.sql} SELECT {bcols} FROM {b.table.sql} WHERE {where} "
                     "ON CONFLICT DO NOTHING")
    if b.delete:
        parts.append(f"DELETE FROM {b.table.sql} WHERE {where}")
    else:
        sets = ", ".join(f"{q(c)} = {expr}" for c, expr in b.assignments)
        parts.append(f"UPDATE {b.table.sql} SET {sets} WHERE {where}")
    return ";\n      ".join(parts)


def backfill_do_block(b: Backfill) -> str:
    """A psql-runnable loop: keyset batches on the primary key, COMMIT after each (a top-level DO
    block may COMMIT since PostgreSQL 11), a pause between batches. Idempotent: a re-run skips rows
    the predicate says are done."""
    key = cols(b.key)
    desc = ", ".join(f"{q(k)} DESC" for k in b.key)
    first = (f"SELECT {key} INTO hi FROM (SELECT {key} FROM {b.table.sql} ORDER BY {key} LIMIT {b.batch_size}) s "
             f"ORDER BY {desc} LIMIT 1")
    nxt = (f"SELECT {key} INTO hi FROM (SELECT {key} FROM {b.table.sql} WHERE {_cmp(b.key, '>', 'lo')} "
           f"ORDER BY {key} LIMIT {b.batch_size}) s ORDER BY {desc} LIMIT 1")
    return (
        "DO $migspec$\n"
        "DECLARE\n  lo record;\n  hi record;\n  started boolean := false;\n"
        "BEGIN\n  LOOP\n"
        f"    IF NOT started THEN\n      {first};\n    ELSE\n      {nxt};\n    END IF;\n"
        "    EXIT WHEN NOT FOUND;\n"
        f"    IF NOT started THEN\n      {backfill_batch_sql(b, lower=False)};\n"
        f"    ELSE\n      {backfill_batch_sql(b, lower=True)};\n    END IF;\n"
        "    lo := hi;\n    started := true;\n    COMMIT;\n"
        f"    PERFORM pg_sleep({b.pause_seconds:g});\n"
        "  END LOOP;\nEND\n$migspec$"
    )


def trigger_function_name(table: QualifiedName, tag: str) -> QualifiedName:
    # PostgreSQL truncates identifiers at 63 bytes; keep the generated names well under.
    return table.sibling(f"migspec_{tag}_{table.name}"[:60])


def sync_trigger(table: QualifiedName, old: str, new: str, to_new: str, to_old: str, tag: str) -> tuple[str, str, str]:
    """(CREATE FUNCTION, CREATE TRIGGER, DROP both) keeping ``old`` and ``new`` in step in both
    directions while old and new application versions write (pgroll's up/down triggers in one):
    an INSERT that sets only one side fills the other; an UPDATE copies whichever side changed."""
    fn = trigger_function_name(table, tag)
    trg = q(fn.name)
    o, n = q(old), q(new)
    body = (
        f"CREATE OR REPLACE FUNCTION {fn.sql}() RETURNS trigger LANGUAGE plpgsql AS $migspec$\n"
        "BEGIN\n"
        "  IF TG_OP = 'INSERT' THEN\n"
        f"    IF NEW.{n} IS NULL THEN NEW.{n} := {to_new}; ELSIF NEW.{o} IS NULL THEN NEW.{o} := {to_old}; END IF;\n"
        f"  ELSIF NEW.{n} IS DISTINCT FROM OLD.{n} THEN NEW.{o} := {to_old};\n"
        f"  ELSIF NEW.{o} IS DISTINCT FROM OLD.{o} THEN NEW.{n} := {to_new};\n"
        "  END IF;\n"
        "  RETURN NEW;\n"
        "END\n$migspec$"
    )
    create = f"CREATE TRIGGER {trg} BEFORE INSERT OR UPDATE ON {table.sql} FOR EACH ROW EXECUTE FUNCTION {fn.sql}()"
    drop = f"DROP TRIGGER IF EXISTS {trg} ON {table.sql}; DROP FUNCTION IF EXISTS {fn.sql}()"
    return body, create, drop


def default_index_name(table: QualifiedName, columns: tuple[str, ...], unique: bool = False) -> str:
    """PostgreSQL's own choice for an unnamed index: table_col1_col2_idx (or _key), 63 bytes max."""
    suffix = "key" if unique else "idx"
    return f"{table.name}_{'_'.join(columns) or 'expr'}_{suffix}"[:63]
