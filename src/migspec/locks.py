"""PostgreSQL table-level lock modes and their conflicts, as data.

Source: PostgreSQL documentation, "13.3.1. Table-Level Locks", table 13.2 "Conflicting Lock
Modes" (identical in releases 11 through 18). The names match ``pg_locks.mode`` so that the
real-server trace tests can compare a claim with what the server reports, character for character.
"""

from __future__ import annotations

import enum
from functools import cached_property


class LockMode(enum.IntEnum):
    """Table lock modes, weakest first; the integer order matches PostgreSQL's lockdefs.h.
    The derived names and flags are cached_property: computed once per member, then a plain
    attribute (lint asks them ~100,000 times on 10,000 statements, issue 16)."""

    ACCESS_SHARE = 1
    ROW_SHARE = 2
    ROW_EXCLUSIVE = 3
    SHARE_UPDATE_EXCLUSIVE = 4
    SHARE = 5
    SHARE_ROW_EXCLUSIVE = 6
    EXCLUSIVE = 7
    ACCESS_EXCLUSIVE = 8

    @cached_property
    def sql_name(self) -> str:
        """The name used in ``LOCK TABLE ... IN <mode> MODE`` and in prose."""
        return self.name.replace("_", " ")

    @cached_property
    def pg_locks_name(self) -> str:
        """The name ``pg_locks.mode`` reports, e.g. ``AccessExclusiveLock``."""
        return "".join(part.capitalize() for part in self.name.split("_")) + "Lock"

    @classmethod
    def from_pg_locks(cls, name: str) -> LockMode:
        for mode in cls:
            if mode.pg_locks_name == name:
                return mode
        raise ValueError(f"not a table lock mode: {name!r}")

    def conflicts_with(self, other: LockMode) -> bool:
        return other in CONFLICTS[self]

    @cached_property
    def blocks_reads(self) -> bool:
        """True when a plain SELECT (ACCESS SHARE) waits behind this lock."""
        return self.conflicts_with(LockMode.ACCESS_SHARE)

    @cached_property
    def blocks_writes(self) -> bool:
        """True when INSERT/UPDATE/DELETE (ROW EXCLUSIVE) wait behind this lock."""
        return self.conflicts_with(LockMode.ROW_EXCLUSIVE)

    @cached_property
    def blocks(self) -> str:
        """What the application feels, in words built from the conflict table."""
        if self.blocks_reads:
            return "blocks reads and writes"
        if self.blocks_writes:
            return "blocks writes"
        if self.conflicts_with(LockMode.SHARE_UPDATE_EXCLUSIVE):
            return "blocks other DDL and VACUUM only"
        return "blocks only ACCESS EXCLUSIVE"


_L = LockMode
# Table 13.2 of the PostgreSQL manual, row by row ("X" marks a conflict).
CONFLICTS: dict[LockMode, frozenset[LockMode]] = {
    _L.ACCESS_SHARE: frozenset({_L.ACCESS_EXCLUSIVE}),
    _L.ROW_SHARE: frozenset({_L.EXCLUSIVE, _L.ACCESS_EXCLUSIVE}),
    _L.ROW_EXCLUSIVE: frozenset({_L.SHARE, _L.SHARE_ROW_EXCLUSIVE, _L.EXCLUSIVE, _L.ACCESS_EXCLUSIVE}),
    _L.SHARE_UPDATE_EXCLUSIVE: frozenset(
        {_L.SHARE_UPDATE_EXCLUSIVE, _L.SHARE, _L.SHARE_ROW_EXCLUSIVE, _L.EXCLUSIVE, _L.ACCESS_EXCLUSIVE}
    ),
    _L.SHARE: frozenset(
        {_L.ROW_EXCLUSIVE, _L.SHARE_UPDATE_EXCLUSIVE, _L.SHARE_ROW_EXCLUSIVE, _L.EXCLUSIVE, _L.ACCESS_EXCLUSIVE}
    ),
    _L.SHARE_ROW_EXCLUSIVE: frozenset(
        {_L.ROW_EXCLUSIVE, _L.SHARE_UPDATE_EXCLUSIVE, _L.SHARE, _L.SHARE_ROW_EXCLUSIVE, _L.EXCLUSIVE,
         _L.ACCESS_EXCLUSIVE}
    ),
    _L.EXCLUSIVE: frozenset(
        {_L.ROW_SHARE, _L.ROW_EXCLUSIVE, _L.SHARE_UPDATE_EXCLUSIVE, _L.SHARE, _L.SHARE_ROW_EXCLUSIVE,
         _L.EXCLUSIVE, _L.ACCESS_EXCLUSIVE}
    ),
    _L.ACCESS_EXCLUSIVE: frozenset(LockMode),
}
