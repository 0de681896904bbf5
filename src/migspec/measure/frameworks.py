"""What the migration frameworks recorded as applied in production: Django's ``django_migrations``
and Alembic's ``alembic_version``, so ``lint``/``plan`` of a project read only what is pending.

Read-only, like the rest of ``measure``; a table that is absent means that framework is not in use,
one the role may not read is a warning (the stats file then says nothing about it).
"""

from __future__ import annotations

import psycopg
from psycopg import sql

#: table -> (framework key in the stats file, the query listing what is applied). Both tables are
#: looked up on the search_path, where the frameworks create them by default.
RECORDS = {
    "django_migrations": ("django", "SELECT app || '.' || name FROM django_migrations ORDER BY id"),
    "alembic_version": ("alembic", "SELECT version_num FROM alembic_version ORDER BY version_num"),
}


def applied_migrations(conn: psycopg.Connection) -> tuple[dict[str, list[str]], list[str]]:
    """``{"django": ["app.0001_initial", ...], "alembic": ["ae1027a6acf", ...]}`` and warnings."""
    found: dict[str, list[str]] = {}
    warnings: list[str] = []
    for table, (key, query) in RECORDS.items():
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
            if not cur.fetchone()[0]:  # type: ignore[index]
                continue
            try:
                with conn.transaction():  # a savepoint: a refused read leaves the session usable
                    cur.execute(sql.SQL(query))
                    found[key] = [row[0] for row in cur.fetchall()]
            except psycopg.errors.InsufficientPrivilege:
                warnings.append(f"cannot read {table} (grant SELECT on it): lint and plan of the project "
                                "cannot tell which migrations are pending")
    conn.commit()
    return found, warnings
