"""SQL text only the planner emits: sync triggers, PostgreSQL's default names, the backup schema.
The SQL a plan runs with (guards, batches) is migspec.planfile.sql. User expressions are re-printed
by pglast (migspec.schema.sql_of). Every statement built here is re-parsed by the tests."""

from __future__ import annotations

from migspec.names import QualifiedName, identifier
from migspec.planfile.sql import dollar_quote, q

BACKUP_SCHEMA = "migspec_backup"


def trigger_function_name(table: QualifiedName, tag: str) -> QualifiedName:
    return table.sibling(identifier(f"migspec_{tag}_{table.name}"))


def sync_trigger(table: QualifiedName, old: str, new: str, to_new: str, to_old: str | None,
                 tag: str) -> tuple[str, str, str]:
    """(CREATE FUNCTION, CREATE TRIGGER, DROP both) keeping ``old`` and ``new`` in step.

    Both ways (``to_old`` given: a rename, where old and new application versions write different
    columns - pgroll's up/down triggers in one): an UPDATE copies whichever side changed; an
    INSERT is told apart by ``new``, which has no DEFAULT while both versions run (the rename
    gives it the old column's DEFAULT only at cutover): NULL there means the writer did not name
    it - the old application - so ``new`` follows ``old`` (its value or its DEFAULT); anything
    else was written by the new application, and ``old`` follows it. An ``IS NULL`` test on both
    sides was not enough: with a DEFAULT on both, a row the old application inserted kept the
    new column's default (issue 12, class 1). The one case no BEFORE trigger can tell apart: the
    new application inserting an explicit NULL into a nullable column whose old DEFAULT is not
    NULL gets that DEFAULT (an omitted column and an explicit value look alike once defaults ran).

    One way (``to_old`` None: a type change, where only the old column is written until the
    swap): ``new`` is always computed from ``old``, so a backfill writing ``new`` can never write
    a lossy cast back into ``old``."""
    fn = trigger_function_name(table, tag)
    trg = q(fn.name)
    o, n = q(old), q(new)
    create = f"CREATE TRIGGER {trg} BEFORE INSERT OR UPDATE ON {table.sql} FOR EACH ROW EXECUTE FUNCTION {fn.sql}()"
    drop = f"DROP TRIGGER IF EXISTS {trg} ON {table.sql}; DROP FUNCTION IF EXISTS {fn.sql}()"
    if to_old is None:
        body = f"\nBEGIN\n  NEW.{n} := {to_new};\n  RETURN NEW;\nEND\n"
    else:
        body = (
            "\nBEGIN\n"
            "  IF TG_OP = 'INSERT' THEN\n"
            f"    IF NEW.{n} IS NULL THEN NEW.{n} := {to_new}; ELSE NEW.{o} := {to_old}; END IF;\n"
            f"  ELSIF NEW.{n} IS DISTINCT FROM OLD.{n} THEN NEW.{o} := {to_old};\n"
            f"  ELSIF NEW.{o} IS DISTINCT FROM OLD.{o} THEN NEW.{n} := {to_new};\n"
            "  END IF;\n"
            "  RETURN NEW;\n"
            "END\n"
        )
    function = f"CREATE OR REPLACE FUNCTION {fn.sql}() RETURNS trigger LANGUAGE plpgsql AS {dollar_quote(body)}"
    return function, create, drop
