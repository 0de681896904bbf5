"""Schema diff: the statements that take a current schema to a desired one (``migspec diff``,
``migspec plan --target``). :mod:`migspec.schema.catalog` reads a schema, :mod:`.differ` compares two,
:mod:`.target` reads the inputs the CLI names and hands the statements to the planner."""

from migspec.diff.differ import Diff, Rename, diff

__all__ = ["Diff", "Rename", "diff"]
