"""Settings of the BigAutoField sample: the project switched DEFAULT_AUTO_FIELD to BigAutoField, and
makemigrations wrote 0002 (AlterField of every id). The database comes from MIGSPEC_TEST_DSN."""
import os

SECRET_KEY = "migspec-tests-only"
INSTALLED_APPS = ["catalog"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def _database():
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(os.environ.get("MIGSPEC_TEST_DSN", "dbname=migspec_sample"))
    return {"ENGINE": "django.db.backends.postgresql", "NAME": params.get("dbname", ""),
            "HOST": params.get("host", ""), "PORT": params.get("port", ""), "USER": params.get("user", ""),
            "PASSWORD": params.get("password", "")}


DATABASES = {"default": _database()}
