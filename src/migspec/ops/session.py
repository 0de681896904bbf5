"""Transaction control and settings: they change how later statements run, not the schema."""

from __future__ import annotations

from typing import ClassVar

from migspec.frozen import frozen
from migspec.ops.base import Operation


@frozen(kw_only=True)
class TransactionControl(Operation):
    """BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE, ROLLBACK TO (PREPARE TRANSACTION ends it too)."""

    action: str = "begin"  # begin | commit | rollback | savepoint | release | rollback_to
    kind: ClassVar[str] = "transaction"

    def describe(self) -> str:
        return self.action.replace("_", " ").upper()


@frozen(kw_only=True)
class SetSetting(Operation):
    """SET [LOCAL] name = value, RESET name, RESET ALL (one per setting)."""

    name: str = ""
    value: str | None = None  # None: RESET / SET ... TO DEFAULT
    local: bool = False
    kind: ClassVar[str] = "set"

    def describe(self) -> str:
        return f"SET {'LOCAL ' if self.local else ''}{self.name}"
