"""The removed-API scanner against the sample projects (findings checked against a hand-made list)
and small modules that exercise import-alias resolution and the receiver heuristics."""

from __future__ import annotations

from pathlib import Path

import pytest

from migspec.upgrade import removals
from migspec.upgrade.scanner import Confidence, scan
from upgrade_env import SAMPLES

# Hand-made: what a reader of Django's 4.2 -> 5.2 deprecation timeline finds in the sample project.
DJANGO_EXPECTED = {
    ("proj/settings.py", 1, "USE_TZ", "silent", "MEDIUM", "5.0"),
    ("proj/settings.py", 15, "USE_L10N", "silent", "HIGH", "5.0"),
    ("proj/settings.py", 16, "DEFAULT_FILE_STORAGE", "silent", "HIGH", "5.1"),
    ("shop/clock.py", 8, "django.utils.timezone.utc", "loud", "HIGH", "5.0"),
    ("shop/models.py", 10, "index_together", "loud", "HIGH", "5.1"),
    ("shop/templates/shop/orders.html", 1, "length_is", "loud", "HIGH", "5.1"),
    ("shop/tests.py", 13, "TransactionTestCase.assertQuerysetEqual", "loud", "MEDIUM", "5.1"),
}

# Hand-made: the 1.x idioms SQLAlchemy's migration guide says 2.0 removes, in the sample project.
SQLALCHEMY_EXPECTED = {
    ("app/listing.py", 7, "Engine.execute", "loud", "MEDIUM"),  # engine is a parameter: its name only
    ("app/listing.py", 7, "select([table.c.x, table.c.y])", "loud", "HIGH"),
    ("app/reflection.py", 5, "MetaData(bind=)", "loud", "HIGH"),
    ("app/writes.py", 6, 'conn.execute(some_table.insert().values(foo="bar"))', "silent", "MEDIUM"),
}


def test_django_sample_findings_match_the_hand_made_list() -> None:
    found = {(m.path, m.line, m.row.label, m.row.severity, str(m.confidence), m.row.removed_in)
             for m in scan(SAMPLES / "django_project", removals.crossing("django", "4.2", "5.2"))}
    assert found == DJANGO_EXPECTED


def test_django_findings_point_to_django_upgrade_fixers() -> None:
    fixes = {m.row.label: m.row.autofix for m in scan(SAMPLES / "django_project", removals.crossing("django", "4.2", "5.2"))}
    assert fixes["django.utils.timezone.utc"] == "django-upgrade:utils_timezone"
    assert fixes["index_together"] == "django-upgrade:index_together"
    assert fixes["length_is"] == ""  # django-upgrade has no fixer for it: a manual step


def test_sqlalchemy_sample_findings_match_the_hand_made_list() -> None:
    found = {(m.path, m.line, m.row.label, m.row.severity, str(m.confidence))
             for m in scan(SAMPLES / "sqlalchemy_project", removals.crossing("sqlalchemy", "1.4", "2.0"))}
    assert found == SQLALCHEMY_EXPECTED


def test_fixed_sqlalchemy_code_has_no_findings(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    for f in (SAMPLES / "sqlalchemy_fixed" / "app").iterdir():
        (tmp_path / "app" / f.name).write_text(f.read_text())
    (tmp_path / "app" / "schema.py").write_text((SAMPLES / "sqlalchemy_project" / "app" / "schema.py").read_text())
    assert scan(tmp_path, removals.crossing("sqlalchemy", "1.4", "2.0")) == []


def _scan(tmp_path: Path, code: str, framework: str = "django", current: str = "4.2", target: str = "5.2"):  # type: ignore[no-untyped-def]
    (tmp_path / "mod.py").write_text(code)
    return [(m.line, m.row.label, m.confidence) for m in scan(tmp_path, removals.crossing(framework, current, target))]


@pytest.mark.parametrize("code, line", [
    ("import django.utils.timezone as tz\nx = tz.utc\n", 2),
    ("from django.utils.timezone import utc as UTC\n", 1),
    ("from django.utils import timezone\nx = timezone.utc\n", 2),
    ("import django.utils.timezone\nx = django.utils.timezone.utc\n", 2),
])
def test_import_aliases_resolve(tmp_path: Path, code: str, line: int) -> None:
    assert (line, "django.utils.timezone.utc", Confidence.HIGH) in _scan(tmp_path, code)


def test_unrelated_names_are_not_matched(tmp_path: Path) -> None:
    code = "import datetime\nfrom django.db import models\nx = datetime.timezone.utc\nclass utc: pass\n"
    assert _scan(tmp_path, code) == []


def test_keyword_resolved_through_imports(tmp_path: Path) -> None:
    code = "from django.db import models\nc = models.CheckConstraint(check=models.Q(a=1), name='x')\n"
    assert (2, "CheckConstraint(check=)", Confidence.HIGH) in _scan(tmp_path, code, current="5.1", target="6.0")


def test_receiver_type_inferred_from_create_engine(tmp_path: Path) -> None:
    code = "from sqlalchemy import create_engine, text\ndb = create_engine('sqlite://')\ndb.execute(text('x'))\n"
    assert (3, "Engine.execute", Confidence.HIGH) in _scan(tmp_path, code, "sqlalchemy", "1.4", "2.0")


def test_explicit_transactions_are_not_autocommit(tmp_path: Path) -> None:
    code = ("from sqlalchemy import create_engine\nfrom app import t\nengine = create_engine('sqlite://')\n"
            "with engine.begin() as conn:\n    conn.execute(t.insert().values(a=1))\n"
            "def f(conn):\n    conn.execute(t.insert().values(a=1))\n    conn.commit()\n")
    assert not any(label.startswith("conn.execute") for _, label, _ in _scan(tmp_path, code, "sqlalchemy", "1.4", "2.0"))


def test_meta_options_in_migrations_are_history(tmp_path: Path) -> None:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001.py").write_text(
        "from django.db import models\nclass M(models.Model):\n    class Meta:\n        index_together = [('a',)]\n")
    assert scan(tmp_path, removals.crossing("django", "4.2", "5.2")) == []


def test_risk_rules_from_findings_and_measurements() -> None:
    from migspec.risk import Risk
    from migspec.upgrade.plan import Reason, common_reasons
    from migspec.upgrade.probe import TestRun

    clean = TestRun(ok=True, exit_code=0, warnings={}, tail="")
    assert common_reasons((), clean, clean, measured_target=True) == []  # GREEN: nothing to report
    matches = tuple(scan(SAMPLES / "sqlalchemy_project", removals.crossing("sqlalchemy", "1.4", "2.0")))
    loud = tuple(m for m in matches if m.row.severity == "loud")
    assert max(r.risk for r in common_reasons(loud, clean, clean, True)) is Risk.YELLOW
    assert max(r.risk for r in common_reasons(matches, clean, clean, True)) is Risk.RED  # autocommit
    unmeasured = common_reasons((), None, None, measured_target=False)
    assert {r.rule for r in unmeasured} == {"not_measured"} and all(r.risk is Risk.YELLOW for r in unmeasured)
    assert Reason("postgres_below_minimum", "13 < 14").risk is Risk.RED
