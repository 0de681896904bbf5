"""migspec.render.lint: the four output formats of a lint report."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from migspec.lint import Report, lint
from migspec.parse.source import Location, Migration, load_migration, parse_text
from migspec.render.lint import FORMATS, RENDERERS, render_github, render_json, render_sarif, render_text, report_dict
from migspec.rules import rule_names
from migspec.stats import load_stats, parse_stats

ROOT = Path(__file__).resolve().parents[1]

TABLE = {"rows": 20_000_000, "size_bytes": 3_200_000_000, "write_qps": 400,
         "lock_contention": {"longest_transaction_seconds": 4, "lock_waits_per_minute": 0.5}}
SQL = """\
ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();
-- migspec: allow renaming-column, lock-wait-without-timeout reason: the app reads both names since v41
ALTER TABLE orders RENAME COLUMN note TO customer_note;
DO $$ BEGIN PERFORM 1; END $$;
CREATE TABLE fresh (id int);
CREATE INDEX fresh_idx ON fresh (id);
"""


def report(sql: str = SQL, file: str = "db/0001 add token.sql", source: str = "production") -> Report:
    stats = parse_stats({"pg_version": 16, "source": source, "tables": {"orders": TABLE}}, "stats.yaml")
    statements = parse_text(sql, file)
    return lint(Migration("0001", (file,), tuple(statements)), stats)


def strict_json(text: str) -> object:
    """json.loads that refuses NaN/Infinity, which JSON does not have (Python emits them)."""
    def refuse(name: str) -> object:
        raise ValueError(f"not JSON: {name}")
    return json.loads(text, parse_constant=refuse)


def test_formats_are_the_renderers() -> None:
    assert set(FORMATS) == set(RENDERERS) == {"text", "json", "github", "sarif"}


def test_json_shape() -> None:
    doc = strict_json(render_json(report()))
    assert {"migration", "risk", "pg_version", "tables", "operations", "findings", "stats", "notes"} <= set(doc)
    assert (doc["migration"], doc["risk"], doc["pg_version"]) == ("0001", "RED", 16)
    assert doc["tables"] == [{"name": "public.orders", "rows": 20_000_000, "write_qps": 400.0,
                              "size_bytes": 3_200_000_000, "source": "production"}]
    assert len(doc["operations"]) == 5
    assert doc["stats"]["production"] is True and doc["notes"] == []
    rules = {f["rule"] for f in doc["findings"]}
    assert {"adding-volatile-default", "renaming-column", "unknown-work"} <= rules
    for f in doc["findings"]:
        assert set(f) >= {"rule", "location", "statement", "risk", "lock", "message", "alternative",
                          "estimate_seconds", "suppressed"}
        assert f["risk"] in ("GREEN", "YELLOW", "RED")
        assert re.fullmatch(r"db/0001 add token\.sql:\d+:\d+", f["location"])
    allowed = [f for f in doc["findings"] if f["suppressed"]]
    assert {f["rule"] for f in allowed} == {"renaming-column", "lock-wait-without-timeout"}
    assert all(f["suppressed"] == "the app reads both names since v41" for f in allowed)


def test_json_text_is_report_dict_dumped(tmp_path: Path) -> None:
    """render_json writes its text directly, for speed (issue 16); its bytes are exactly
    json.dumps(report_dict(...)) - on the benchmark corpus, on non-ASCII names and text, unknown
    (infinite) estimates, allowed findings, a finding's origin and a location of its own."""
    sys.path.insert(0, str(ROOT / "bench"))
    import corpus  # bench/corpus.py: the generated benchmark corpus

    stats = load_stats(str(corpus.write_stats(tmp_path / "stats.yaml")))
    reports = [report(), lint(load_migration(corpus.write_corpus(tmp_path / "corpus", 1_500)), stats),
               report(sql='ALTER TABLE orders ADD COLUMN "näme ☃" text DEFAULT \'é"\\\n\t\';\n'
                          "DO $$ BEGIN PERFORM 1; END $$;\n", file="db/0002 ü\\\"x.sql")]
    r = reports[0]
    first = r.results[0]
    moved = replace(first.findings[0], origin="Django: AddField(näme)", location=Location("other.sql", 9, 1))
    reports.append(replace(r, results=(replace(first, findings=(moved, *first.findings[1:])), *r.results[1:])))
    for rep in reports:
        assert render_json(rep) == json.dumps(report_dict(rep), check_circular=False) + "\n"
    assert any(f.origin for f in reports[-1].findings) and any(f.suppressed for f in reports[0].findings)


def test_json_has_no_infinity_for_unknown_durations() -> None:
    """A DO block's duration is unknown (infinite): JSON has no Infinity, so it is null."""
    doc = strict_json(render_json(report()))
    unknown = [f for f in doc["findings"] if f["rule"] == "unknown-work"]
    assert unknown and all(f["estimate_seconds"] is None for f in unknown)
    op = next(o for o in doc["operations"] if o["rules"] == ["unknown-work"])
    assert op["estimate_seconds"] is None


def test_sarif_shape() -> None:
    doc = strict_json(render_sarif(report()))
    assert doc["version"] == "2.1.0" and "sarif-2.1.0" in doc["$schema"]
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "migspec" and driver["version"]
    ids = [r["id"] for r in driver["rules"]]
    assert set(ids) == rule_names()
    for r in driver["rules"]:
        assert r["shortDescription"]["text"] and r["fullDescription"]["text"] and r["help"]["text"]
    assert run["results"]
    for res in run["results"]:
        assert res["ruleId"] in ids
        assert res["level"] in ("error", "warning", "note")
        assert res["message"]["text"]
        (loc,) = res["locations"]
        phys = loc["physicalLocation"]
        assert phys["artifactLocation"]["uri"] == "db/0001%20add%20token.sql"  # a URI reference: no blanks
        assert phys["region"]["startLine"] >= 1 and phys["region"]["startColumn"] >= 1
    suppressed = [r for r in run["results"] if "suppressions" in r]
    assert {r["ruleId"] for r in suppressed} == {"renaming-column", "lock-wait-without-timeout"}
    for r in suppressed:
        assert r["suppressions"] == [{"kind": "inSource", "justification": "the app reads both names since v41"}]
    assert any(r["ruleId"] == "unknown-work" and r["properties"]["estimate_seconds"] is None for r in run["results"])


GITHUB_LINE = re.compile(r"::(error|warning|notice) file=([^,:]+),line=(\d+),col=(\d+),title=([^,:]+)::(.+)")


def test_github_workflow_commands() -> None:
    lines = render_github(report()).splitlines()
    assert lines[-1] == "migspec: 0001 is RED"
    commands = [GITHUB_LINE.fullmatch(line) for line in lines[:-1]]
    assert commands and all(commands), lines
    for m in commands:
        level, file, line, col, title, message = m.groups()
        assert file == "db/0001 add token.sql"
        risk, rule = title.split(" ")
        assert rule in rule_names()
        assert level == {"RED": "error", "YELLOW": "warning", "GREEN": "notice"}[risk]
        assert "\n" not in message and "Instead: " in message
    assert not any("renaming-column" in line for line in lines)  # allowed findings are not annotated
    assert any(m.group(1) == "error" and m.group(3) == "1" and m.group(4) == "1" for m in commands)


def test_github_escapes_properties_and_data() -> None:
    r = report(sql="SELECT 1;\nALTER TABLE orders ADD COLUMN t uuid DEFAULT gen_random_uuid();",
               file="db/a,b:100%.sql")
    (line, summary) = [x for x in render_github(r).splitlines() if "adding-volatile-default" in x or
                       x.startswith("migspec:")]
    assert line.startswith("::error file=db/a%2Cb%3A100%25.sql,line=2,col=1,title=RED adding-volatile-default::")
    assert summary == "migspec: 0001 is RED"


def test_text_report() -> None:
    text = render_text(report())
    lines = text.splitlines()
    assert lines[:4] == ["MIGRATION: 0001", "RISK: RED", "TABLE SIZE: 20,000,000 - WRITE QPS: 400  (public.orders)",
                         "TARGET: PostgreSQL 16 - STATS: production (stats.yaml)"]
    assert "db/0001 add token.sql:1:1: RED [adding-volatile-default] add_column on public.orders" in lines
    assert any(line.startswith("db/0001 add token.sql:3:1: ") and "(allowed) [renaming-column]" in line
               for line in lines)
    assert "    allowed: the app reads both names since v41" in lines
    assert "NOTE:" not in text
    assert re.search(r"^\d+ finding\(s\): \d+ RED, \d+ YELLOW, \d+ GREEN, 2 allowed$", text, re.M)


def test_text_notes_non_production_stats() -> None:
    text = render_text(report(source="staging"))
    assert "NOTE: measurements are from 'staging', not production" in text
    assert "STATS: staging (stats.yaml)" in text
    doc = strict_json(render_json(report(source="staging")))
    assert doc["notes"] and "staging" in doc["notes"][0] and doc["stats"]["production"] is False


def test_clean_report() -> None:
    r = report(sql="CREATE TABLE t (id int);\nCREATE INDEX t_idx ON t (id);")
    assert r.findings == []
    assert render_text(r).splitlines()[-1] == "No findings: 2 operation(s), all GREEN."
    assert render_github(r) == "migspec: 0001 is GREEN\n"
    assert strict_json(render_sarif(r))["runs"][0]["results"] == []
    assert strict_json(render_json(r))["findings"] == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_ends_with_a_newline(fmt: str) -> None:
    assert RENDERERS[fmt](report()).endswith("\n")
