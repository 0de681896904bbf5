"""migspec: a migration specialist for PostgreSQL."""

from migspec.deferred import defer_pglast_classes

__version__ = "0.1.0"

# Before anything imports pglast: its node and enum classes are built when first used, which lint
# never does (migspec.deferred).
defer_pglast_classes()
