"""Write the SQL of every migration of Django's own contrib apps, as ``manage.py sqlmigrate``
prints it, one file per migration in the order ``migrate`` applies them:

    python django_sqlmigrate.py DSN OUTDIR

``sqlmigrate`` needs a real connection (the PostgreSQL schema editor looks constraint and index
names up in the catalog), so each migration is printed, then applied with ``migrate``, exactly
as a project's history would reach it. Run as its own process: Django's settings are global.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

#: Every contrib app that has migrations and needs nothing beyond Django itself (gis needs GDAL).
CONTRIB_APPS = [
    "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions",
    "django.contrib.messages", "django.contrib.staticfiles", "django.contrib.sites", "django.contrib.redirects",
    "django.contrib.flatpages", "django.contrib.sitemaps", "django.contrib.humanize", "django.contrib.admindocs",
    "django.contrib.postgres",
]


def main(dsn: str, outdir: Path) -> int:
    import django
    from django.conf import settings
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(dsn)
    settings.configure(
        INSTALLED_APPS=CONTRIB_APPS, SITE_ID=1, USE_TZ=True, SECRET_KEY="corpus", DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        DATABASES={"default": {"ENGINE": "django.db.backends.postgresql", "NAME": info["dbname"],
                               "HOST": info.get("host", ""), "PORT": info.get("port", ""),
                               "USER": info.get("user", ""), "PASSWORD": info.get("password", "")}},
    )
    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes(), clean_start=True)
    outdir.mkdir(parents=True, exist_ok=True)
    for i, (migration, _backwards) in enumerate(plan, 1):
        out = io.StringIO()
        call_command("sqlmigrate", migration.app_label, migration.name, stdout=out)
        (outdir / f"{i:03}_{migration.app_label}_{migration.name}.sql").write_text(out.getvalue(), encoding="utf-8")
        call_command("migrate", migration.app_label, migration.name, verbosity=0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2])))
