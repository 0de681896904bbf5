"""migspec.plainyaml reads a stats file without PyYAML: the same document PyYAML gives
(migspec.documents._yaml: libyaml's events, PyYAML's safe scalar rules) or a refusal to guess,
checked against PyYAML itself on documents PyYAML writes in every style, on fuzzed text, on what
`migspec measure` writes and on the repository's own YAML files."""

from __future__ import annotations

import datetime as dt
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migspec import plainyaml
from migspec.documents import _yaml, decode_document
from migspec.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def typed(value: Any) -> Any:
    """A value with its types spelt out: 1, 1.0 and True compare equal in Python, not here."""
    if isinstance(value, dict):
        return ("map", [(typed(k), typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("seq", [typed(v) for v in value])
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else repr(value))
    if isinstance(value, dt.datetime):
        return ("datetime", value.isoformat(), repr(value.tzinfo))
    return (type(value).__name__, value)


def read_both(text: str) -> bool:
    """True when plainyaml read the text (and then it gave what PyYAML gives); False when it
    declined. PyYAML's own errors stay PyYAML's: a text plainyaml reads must be one PyYAML reads."""
    try:
        got = plainyaml.read(text)
    except plainyaml.Unsupported:
        return False
    try:
        expected = _yaml(text)
    except yaml.YAMLError as exc:  # pragma: no cover - the failure this test exists to catch
        pytest.fail(f"plainyaml read {text!r} as {got!r}, PyYAML refuses it: {exc}")
    assert typed(got) == typed(expected), text
    return True


TRICKY = ["yes", "No", "on", "OFF", "y", "n", "null", "Null", "~", "true", "1_000", "0x1F", "0o7", "007",
          "08", "0", "-0", "+12", "1:20", "1:20.5", "1.5e3", "1.5e+3", "1.", ".5", ".inf", "-.INF", ".NaN",
          "2026-01-01", "2026-1-1", "2026-01-01 10:00:00", "2026-01-01T10:00:00Z", "2026-01-01t10:00:00.5-05",
          "2026-13-01", "<<", "=", "-", "- a", "a: b", "a:b", "#x", "a #b", "a#b", "'q'", '"d"', "[x]", "{y}",
          "&a", "*a", "!t", "|", ">", "%", "@", "`", "---", "...", "", " lead", "trail ", "two  spaces",
          "multi\nline", "blank\n\nline", "tab\there", "ünïcödé", "\x85", "\u2028", "back\\slash", "it's",
          "a, b", "[a, b]", "-5", "-x", "?x", ":x", "x:", "15.18 (Debian 15.18-0+deb12u1)",
          "CREATE INDEX orders_created_at_idx ON public.orders USING btree (created_at) WHERE (note IS NULL)",
          "CHECK ((status = ANY (ARRAY['new'::text, 'paid'::text])))", "x" * 130, "a " * 70]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=False),
    st.dates(), st.datetimes(timezones=st.sampled_from([None, dt.timezone.utc, dt.timezone(dt.timedelta(hours=-5)),
                                                        dt.timezone(dt.timedelta(hours=5, minutes=30))])),
    st.sampled_from(TRICKY), st.text(max_size=30), st.text(alphabet="ab :#-'\"{}[],\n ", max_size=30))
keys = st.one_of(st.sampled_from(TRICKY), st.text(max_size=12), st.integers(-5, 5), st.booleans(), st.none())
documents = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                          st.dictionaries(keys, inner, max_size=4)), max_leaves=20)
styles = st.fixed_dictionaries({"default_flow_style": st.sampled_from([False, None, True]),
                                "width": st.sampled_from([10, 40, 80, 100, 1000]),
                                "allow_unicode": st.booleans(), "indent": st.sampled_from([2, 4])})


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents, styles)
def test_what_pyyaml_writes_reads_as_pyyaml_reads_it(doc: Any, style: dict[str, Any]) -> None:
    read_both(yaml.safe_dump(doc, sort_keys=False, **style))


LINES = st.lists(st.tuples(st.sampled_from([0, 0, 2, 2, 4, 1, 3]),
                           st.sampled_from(["key:", "key: ", "- ", "-", "", "# c", "k2:", "'q k':"]),
                           st.sampled_from(["", "value", "1", "1.5", "yes", "~", "'a''b'", '"dq"', "{a: 1, b: [x, y]}",
                                            "[1, {c: d}]", "{a: 1,", "b: 2}", "[x,", "y]", "# c", "a #c", "x: y",
                                            "'open", "close'", "2026-01-01", "- z", "&a x", "*a", "|", "plain more"])),
                 max_size=12)


@settings(max_examples=1500, deadline=None)
@given(LINES)
def test_fuzzed_text_is_read_as_pyyaml_reads_it_or_declined(lines: list[tuple[int, str, str]]) -> None:
    text = "\n".join(" " * indent + lead + rest for indent, lead, rest in lines)
    try:
        got = plainyaml.read(text)
    except plainyaml.Unsupported:
        return
    try:
        expected = _yaml(text)
    except yaml.YAMLError as exc:
        pytest.fail(f"plainyaml read {text!r} as {got!r}, PyYAML refuses it: {exc}")
    assert typed(got) == typed(expected), text


@pytest.mark.parametrize("text", [
    "a: 1\nb: 1.5\nc: yes\nd: ~\ne:\nf: 'x y'\ng: \"z\"\nh: 2026-01-02\ni: 2026-01-02T03:04:05.678Z\n",
    "tables:\n  public.t:\n    rows: 10\n    columns: {id: bigint, amount: 'numeric(12,2)'}\n    primary_key: [id]\n",
    "seq:\n- a\n- b: 1\n  c: 2\n- - x\n  - y\n-\n  deep: [1, [2, {three: 3}]]\nafter: 1\n",
    "long: this plain scalar\n  goes on over\n\n  three lines\nnext: 'and this\n  one, quoted, ''too'''\n",
    "flow: {a: 1,\n  b: [x,\n    y]}  # comment\n",
    "sql: |\n  CREATE TABLE t (id int);\n\n    -- indented\n  SELECT 1;\n\nnext: |-\n  no final break\n",
    "# only a comment\n\n",
    "",
])
def test_documents_it_reads(text: str) -> None:
    assert read_both(text)


@pytest.mark.parametrize("text", [
    "a: &x 1\nb: *x\n", "a: !!str 1\n", "a: >\n  folded\n", "a: |+\n  kept\n\n", "a: |\n\n  after a blank\n", "a: 0x1F\n", "a: 1_000\n", "a: 1:20\n",
    "a: 1\na: 2\n", "<<: {a: 1}\n", "--- \na: 1\n", "a: \"esc\\n\"\n", "a:\tb\n", "a: 1\r\nb: 2\r\n",
    "? complex\n: key\n", "a: 2026-13-01\n", "a: " + "9" * 41 + "\n", "a: [1, 2,]\n", "a: {b: 1 # c\n}\n",
])
def test_what_it_leaves_to_pyyaml(text: str) -> None:
    with pytest.raises(plainyaml.Unsupported):
        plainyaml.read(text)


def test_declined_errors_are_still_pyyamls(tmp_path: Path) -> None:
    """A document the reader declines goes to PyYAML: its message, line and column, as before."""
    with pytest.raises(InputError, match=r"stats\.yaml:2:1: malformed YAML: duplicate key 'a'"):
        decode_document(b"a: 1\na: 2\n", tmp_path / "stats.yaml", what="stats file")
    with pytest.raises(InputError, match="anchors and aliases are not supported"):
        decode_document(b"a: &x 1\nb: *x\n", tmp_path / "stats.yaml", what="stats file")


table_names = st.from_regex(r"(public|app)\.[a-z_]{1,12}", fullmatch=True)
definitions = st.sampled_from(TRICKY[-6:]) | st.text(alphabet="abc ()'=,:_.", min_size=1, max_size=150)
stats_docs = st.fixed_dictionaries({
    "pg_version": st.integers(13, 18), "source": st.sampled_from(["production", "staging copy"]),
    "collected_at": st.datetimes(timezones=st.just(dt.timezone.utc)),
    "tables": st.dictionaries(table_names, st.fixed_dictionaries({
        "rows": st.integers(0, 10**10), "size_bytes": st.integers(0, 10**13),
        "write_qps": st.floats(0, 10**5, allow_nan=False), "lock_contention": st.fixed_dictionaries(
            {"longest_transaction_seconds": st.floats(0, 10**4), "lock_waits_per_minute": st.floats(0, 100)}),
        "columns": st.dictionaries(st.from_regex(r"[a-z_]{1,20}", fullmatch=True),
                                   st.sampled_from(["bigint", "text", "numeric(12,2)", "timestamp with time zone",
                                                    "character varying(200)", "boolean", "jsonb"]), max_size=8),
        "primary_key": st.lists(st.from_regex(r"[a-z_]{1,20}", fullmatch=True), max_size=2),
        "indexes": st.dictionaries(st.from_regex(r"[a-z_]{1,30}", fullmatch=True), definitions, max_size=3),
    }), max_size=4)})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stats_docs)
def test_stats_files_as_measure_writes_them_are_read_here(doc: dict[str, Any]) -> None:
    """`migspec measure` writes block style, width 100 (migspec.measure.snapshot.render): long
    index and constraint definitions fold over lines. Those are read here, never left to PyYAML."""
    from migspec.measure.snapshot import render

    assert read_both(render(doc))


def test_the_repositorys_yaml_files() -> None:
    files = [p for p in ROOT.glob("**/*.y*ml")
             if not {".venv", ".git", "work", "node_modules"} & set(p.relative_to(ROOT).parts)]
    assert len(files) > 20
    read = [p for p in files if read_both(p.read_text(encoding="utf-8"))]
    assert ROOT / "examples" / "stats.yaml" in read
    assert len(read) > 20, sorted(set(files) - set(read))  # the others: anchors (tests/rules' presets)


def test_lint_with_a_yaml_stats_file_does_not_import_pyyaml(tmp_path: Path) -> None:
    (tmp_path / "stats.yaml").write_text((ROOT / "examples" / "stats.yaml").read_text())
    (tmp_path / "m.sql").write_text("ALTER TABLE orders ADD COLUMN x int;\n")
    code = ("import sys; from migspec.cli import main; code = main(['lint', '--stats', sys.argv[1], sys.argv[2]]);"
            "print('yaml' in sys.modules, code, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "stats.yaml"), str(tmp_path / "m.sql")],
                         capture_output=True, text=True, check=False)
    assert out.stderr.strip().splitlines()[-1] == "False 1", out.stderr  # 1: findings
