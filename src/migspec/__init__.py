"""migspec: a migration specialist for PostgreSQL."""

__version__ = "0.1.0"
