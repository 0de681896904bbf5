"""Settings of the sample project: the database comes from MIGSPEC_TEST_DSN (tests run it on a
throwaway server); without it the project still loads (migspec reads migrations offline)."""
import os

SECRET_KEY = "migspec-tests-only"
INSTALLED_APPS = ["ledger"]
USE_TZ = True
DEFAULT_AUTO_FIELD = os.environ.get("MIGSPEC_TEST_AUTO_FIELD", "django.db.models.AutoField")


def _database():
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(os.environ.get("MIGSPEC_TEST_DSN", "dbname=migspec_sample"))
    return {"ENGINE": "django.db.backends.postgresql", "NAME": params.get("dbname", ""),
            "HOST": params.get("host", ""), "PORT": params.get("port", ""), "USER": params.get("user", ""),
            "PASSWORD": params.get("password", "")}


DATABASES = {"default": _database()}
