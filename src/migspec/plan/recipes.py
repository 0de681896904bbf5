"""Recipes: the steps of a safe rewrite as statements, before any measurement (``StepSpec``). The
planner builds each into a guarded plan step (``StepSpec.build``); a lint rule that suggests the
same fix prints their UP statements (``up_sql``): one recipe for both.

Kept apart from the planner's modules so that ``migspec lint`` reaches a recipe without loading the
planner, the plan file's classes and every operation module they import (issue 16)."""

from __future__ import annotations


from typing import TYPE_CHECKING

from migspec.frozen import frozen
from migspec.names import QualifiedName, identifier, quote_ident
from migspec.phases import PhaseName
from migspec.versions import supports

if TYPE_CHECKING:
    from migspec.plan.context import PlanContext
    from migspec.planfile.model import Step

E, M = PhaseName.EXPAND, PhaseName.MIGRATE


@frozen
class StepSpec:
    """A step as a recipe states it before any measurement: its phase, its SQL both ways, the table
    whose traffic it affects and the kind of work it does there (a calibration kind such as
    ``scan`` or ``index_build_concurrent``; None: catalog only). ``build`` turns it into a guarded
    plan Step for a table of ``rows`` rows; the lint rule that suggests the same fix joins its UP
    statements (one recipe for both)."""

    phase: PhaseName
    description: str
    up: tuple[str, ...]
    down: tuple[str, ...] = ()
    table: QualifiedName | None = None
    work: str | None = None
    down_note: str = ""
    post_check: str | None = None

    def build(self, ctx: PlanContext, rows: int) -> tuple[PhaseName, Step]:
        from migspec.plan.steps import ddl  # the planner's own module: loaded whenever a plan is built

        est = ctx.calibration.duration(self.work, rows, ctx.size(self.table)) if self.work else None
        extra = {"down_note": self.down_note} if self.down_note else {}
        return self.phase, ddl(ctx, self.description, self.up, self.down, self.table, estimate=est,
                               post_check=self.post_check, **extra)


def up_sql(specs: list[StepSpec]) -> str:
    """The recipe's UP statements as one suggestion (what a lint rule prints as its fix)."""
    return "; ".join(s for spec in specs for s in spec.up)


def not_valid_then_validate(t: QualifiedName, name: str, definition: str, *, add_phase: PhaseName = E,
                            post_check: str | None = None) -> list[StepSpec]:
    """A constraint without the scan under the strong lock: ADD ... NOT VALID (catalog only), then
    VALIDATE CONSTRAINT in its own transaction (SHARE UPDATE EXCLUSIVE: reads and writes go on)."""
    q = quote_ident
    return [
        StepSpec(add_phase, f"add constraint {name} NOT VALID on {t}: {definition} (catalog only, no scan)",
                 (f"ALTER TABLE {t.sql} ADD CONSTRAINT {q(name)} {definition} NOT VALID",),
                 (f"ALTER TABLE {t.sql} DROP CONSTRAINT IF EXISTS {q(name)}",), t),
        StepSpec(M, f"validate {name} (SHARE UPDATE EXCLUSIVE: reads and writes continue)",
                 (f"ALTER TABLE {t.sql} VALIDATE CONSTRAINT {q(name)}",), (), t,
                 work="validate_fk" if definition.startswith("FOREIGN KEY") else "scan",
                 down_note="nothing to undo: validation only reads", post_check=post_check),
    ]


def constraint_name(table: QualifiedName, columns: tuple[str, ...], kind: str) -> str:
    """The name the plan gives a CHECK or FOREIGN KEY written without one (it needs one to VALIDATE
    it later): PostgreSQL's own pattern, ``<table>_<columns>_fkey`` / ``_check``."""
    return identifier(f"{table.name}_{'_'.join(columns) or kind}_{'fkey' if kind == 'foreign_key' else 'check'}")


def not_null_recipe(t: QualifiedName, column: str, version: int) -> list[StepSpec]:
    """NOT NULL without a long ACCESS EXCLUSIVE scan: CHECK NOT VALID -> VALIDATE (SHARE UPDATE
    EXCLUSIVE) -> SET NOT NULL (PG12+ uses the CHECK, no scan) -> drop the CHECK. PG18: NOT NULL
    NOT VALID -> VALIDATE. The planner builds these steps (migspec.plan.rewrites.not_null); the
    lint rule setting-not-null-on-existing-column prints their UP."""
    name = identifier(f"{t.name}_{column}_not_null")
    con, col = quote_ident(name), quote_ident(column)
    no_nulls = f"SELECT NOT EXISTS (SELECT 1 FROM {t.sql} WHERE {col} IS NULL) AS ok"
    if supports("not_null_not_valid", version):
        return not_valid_then_validate(t, name, f"NOT NULL {col}", add_phase=M, post_check=no_nulls)
    check = f"CHECK ({col} IS NOT NULL)"
    return not_valid_then_validate(t, name, check, add_phase=M, post_check=no_nulls) + [
        StepSpec(M, f"SET NOT NULL on {t}.{column} (uses the validated CHECK: no scan)",
                 (f"ALTER TABLE {t.sql} ALTER COLUMN {col} SET NOT NULL",),
                 (f"ALTER TABLE {t.sql} ALTER COLUMN {col} DROP NOT NULL",), t),
        StepSpec(M, f"drop the helper CHECK on {t}", (f"ALTER TABLE {t.sql} DROP CONSTRAINT {con}",),
                 (f"ALTER TABLE {t.sql} ADD CONSTRAINT {con} {check} NOT VALID",), t),
    ]
