"""Data changes read from migration Python code (migspec.frameworks.pyast); the SQL it reports parses."""

from __future__ import annotations

from pathlib import Path

import pytest
from pglast import parse_sql

from migspec.frameworks.pyast import placeholders_to_params, read_python
from migspec.measure.frameworks import applied_migrations

MODELS = {"shop.order": {"table": "shop_order", "columns": {"id": "id", "note": "note", "customer": "customer_id"},
                         "pk": "id"}}


def _read(tmp_path: Path, code: str, *, atomic: bool = True, function: str = "forwards"):
    path = tmp_path / "m.py"
    path.write_text(code)
    actions = read_python(path, function=function, line=None, models=MODELS, atomic=atomic, display="m.py")
    for a in actions:
        if a.sql:
            parse_sql(a.sql)  # every reported statement is PostgreSQL
    return actions


def test_orm_bulk_writes_become_sql(tmp_path: Path) -> None:
    actions = _read(tmp_path, """
def forwards(apps, schema_editor):
    Order = apps.get_model("shop", "Order")
    Order.objects.all().update(note="x", customer=None)
    Order.objects.filter(note="", customer__isnull=False).delete()
    qs = Order.objects.exclude(note__in=["a", "b"])
    qs.filter(id__gte=-5).update(note=F("note"), customer=compute())
    Order.objects.filter(Q(note="x"), note__startswith="y").update(note="it's")
""")
    assert [(a.line, a.sql) for a in actions] == [
        (4, "UPDATE shop_order SET note = 'x', customer_id = NULL"),
        (5, "DELETE FROM shop_order WHERE (note = '' AND customer_id IS NOT NULL)"),
        (7, "UPDATE shop_order SET note = note, customer_id = $1 WHERE NOT (note IN ('a', 'b')) AND id >= -5"),
        (8, "UPDATE shop_order SET note = 'it''s' WHERE ($1 AND $2)")]


def test_a_loop_commits_per_batch_only_outside_a_transaction(tmp_path: Path) -> None:
    code = """
def forwards(apps, schema_editor):
    Order = apps.get_model("shop.Order")
    for order in Order.objects.filter(note=""):
        order.note = "n/a"
        order.save()
    while True:
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("UPDATE shop_order SET note = %s WHERE id IN (SELECT id FROM shop_order LIMIT 1000)", ["x"])
"""
    atomic = _read(tmp_path, code, atomic=True)
    assert [a.sql for a in atomic] == ["UPDATE shop_order SET note = $1 WHERE $2",
                                       "UPDATE shop_order SET note = $1 WHERE id IN (SELECT id FROM shop_order LIMIT 1000)"]
    non_atomic = _read(tmp_path, code, atomic=False)
    assert non_atomic == []  # each save() and each batch commits on its own


def test_code_migspec_cannot_see_is_opaque(tmp_path: Path) -> None:
    actions = _read(tmp_path, """
from elsewhere import fix

SQL = "UPDATE shop_order SET note = ''"

def helper(apps):
    apps.get_model("shop", "Order").objects.update(note="z")

def forwards(apps, schema_editor):
    fix(apps)
    schema_editor.execute("UPDATE shop_order SET note = '" + "x" + "'")
    schema_editor.execute(SQL)
    helper(apps)
    print(len("harmless"))
""")
    assert [(a.line, bool(a.opaque), a.via) for a in actions] == [
        (10, True, "call"), (11, True, "sql"), (12, False, "sql"), (7, False, "orm")]
    assert "fix(apps)" in actions[0].opaque


def test_missing_function_is_opaque(tmp_path: Path) -> None:
    actions = _read(tmp_path, "x = 1\n", function="gone")
    assert len(actions) == 1 and actions[0].opaque


@pytest.mark.parametrize("text, expected", [
    ("UPDATE t SET a = %s WHERE id = %(id)s", "UPDATE t SET a = $1 WHERE id = $2"),
    ("UPDATE t SET a = :val WHERE b::text = 'x'", "UPDATE t SET a = $1 WHERE b::text = 'x'"),
    ("SELECT '100%%'", "SELECT '100%'"),
])
def test_placeholders(text: str, expected: str) -> None:
    assert placeholders_to_params(text) == expected
    parse_sql(expected)


def test_measure_reads_the_frameworks_records(pg) -> None:  # type: ignore[no-untyped-def]
    assert applied_migrations(pg) == ({}, [])
    pg.execute("CREATE TABLE django_migrations (id serial PRIMARY KEY, app text, name text, applied timestamptz)")
    pg.execute("INSERT INTO django_migrations (app, name) VALUES ('shop', '0001_initial'), ('shop', '0002_x')")
    pg.execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
    pg.execute("INSERT INTO alembic_version VALUES ('c3'), ('d4')")
    pg.commit()
    assert applied_migrations(pg) == ({"django": ["shop.0001_initial", "shop.0002_x"], "alembic": ["c3", "d4"]}, [])
    pg.execute("CREATE ROLE h13_monitor LOGIN")
    pg.commit()
    try:
        pg.execute("SET ROLE h13_monitor")
        found, warnings = applied_migrations(pg)
        assert found == {} and len(warnings) == 2 and "grant SELECT" in warnings[0]
    finally:
        pg.rollback()
        pg.execute("RESET ROLE")
        pg.execute("DROP ROLE h13_monitor")
        pg.commit()
