"""The parse layer reads libpg_query's JSON tree (migspec.parse.tree), not pglast's Python nodes:
its statement offsets must be pglast's own (characters, not UTF-8 bytes), and an expression an
operation keeps must lead the planner back to the very node pglast builds for it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from pglast import parse_sql
from pglast.stream import RawStream

from migspec.analysis import analyze
from migspec.ops.expressions import Expression
from migspec.parse.operations import build_operations
from migspec.parse.source import Migration, parse_text
from migspec.parse.tree import parse_json, pglast_node
from migspec.stats import Stats

# Text a migration may hold in literals and comments: ASCII, 2-, 3- and 4-byte UTF-8 characters.
_CHARS = st.sampled_from(list("aZ 09_-é€☕𝄞ß中\t"))
_PIECE = st.text(_CHARS, max_size=12)


@st.composite
def _migration(draw: st.DrawFn) -> str:
    parts = []
    for i in range(draw(st.integers(1, 6))):
        lit, comment = draw(_PIECE).replace("'", ""), draw(_PIECE).replace("*/", "").replace("/*", "")
        parts.append(draw(st.sampled_from([
            f"-- {comment}\nALTER TABLE t{i} ADD COLUMN c text DEFAULT '{lit}';",
            f"/* {comment} */ UPDATE t SET a = '{lit}' WHERE b = '{lit}';",
            f"COMMENT ON TABLE t IS '{lit}';",
            f"CREATE INDEX i{i} ON t (a) WHERE a <> '{lit}';",
        ])))
    text = "\n".join(parts)
    return text.removesuffix(";") if draw(st.booleans()) else text  # the last statement may lack its ";"


@settings(max_examples=200, deadline=None)
@given(_migration())
def test_statement_offsets_are_pglasts_characters(text: str) -> None:
    ours = [(raw.get("stmt_location", 0), raw.get("stmt_len", 0)) for raw in parse_json(text)]
    pglast = [(rs.stmt_location or 0, rs.stmt_len or 0) for rs in parse_sql(text)]
    assert ours == pglast


def _expressions(sql: str) -> list[tuple[str, Expression]]:
    stmts = parse_text(sql, "m.sql")
    out = []
    for stmt in stmts:
        for op in build_operations(stmt):
            for name in ("default", "using", "where"):
                value = getattr(op, name, None)
                if isinstance(value, Expression):
                    out.append((name, value))
    return out


def test_an_operations_expression_leads_back_to_pglasts_node() -> None:
    sql = ("ALTER TABLE t ADD COLUMN a int NOT NULL DEFAULT 1 + length('é𝄞'), "
           "ADD COLUMN b timestamptz DEFAULT now();\n"
           "ALTER TABLE t ALTER COLUMN a TYPE bigint USING a * 2, ALTER COLUMN b SET DEFAULT clock_timestamp();\n"
           "UPDATE t AS x SET a = 2 WHERE x.id IN (1, 2) AND b < now();\nDELETE FROM t WHERE id = 3")
    found = _expressions(sql)
    printed = [(name, RawStream()(pglast_node(expr))) for name, expr in found]
    assert printed == [("default", "1 + length('é𝄞')"), ("default", "now()"), ("using", "a * 2"),
                       ("default", "clock_timestamp()"), ("where", "x.id IN (1, 2) AND b < now()"),
                       ("where", "id = 3")]
    # The tree the operation holds is the JSON of that same node: no pglast object in the operation.
    assert all(isinstance(expr.tree, dict) for _, expr in found)


def test_the_analysis_of_a_placeholder_and_of_sql_without_pglast_nodes() -> None:
    migration = Migration("m", ("m.sql",), tuple(parse_text("ALTER TABLE t ADD COLUMN c int DEFAULT random();\n"
                                                           "-- THIS OPERATION CANNOT BE WRITTEN AS SQL\n", "m.sql")))
    items = [item for item, _ in analyze(migration, version=16, stats=Stats())]
    assert [item.op.kind for item in items] == ["add_column", "unknown"]
    assert "node" not in vars(migration.statements[0])  # pglast's node was never built for lint
