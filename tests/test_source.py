"""migspec.parse.source: reading files, statement locations, syntax errors, inline directives."""

from __future__ import annotations

from pathlib import Path

import pytest

from migspec.errors import InputError
from migspec.parse.source import collect_files, line_col, load_migration, parse_text, read_text


def _error(text: str, file: str = "m.sql") -> str:
    with pytest.raises(InputError) as info:
        parse_text(text, file)
    return str(info.value)


# --- syntax errors: file:line:col of the offending token, in characters -------------------------

@pytest.mark.parametrize("text, where, near", [
    ("SELEC 1;", "1:1", '"SELEC"'),
    ("SELECT 1;\nSELEC 2;", "2:1", '"SELEC"'),
    ("SELECT 1;\n\n   ALTER TABLE t ADD COLUMN;", "3:28", '";"'),
    ("SELECT 'ééé' FRO x;", "1:18", '"x"'),  # after multi-byte UTF-8 characters on the same line
    ("SELECT 'é';\nSELECT '日本語' FRO x;", "2:18", '"x"'),  # ... and on a later line
    ("-- café crème\n/* ü */ SELECT 1 FRO x;", "2:22", '"x"'),
    ("SELECT 1;\r\nSELEC 2;", "2:1", '"SELEC"'),
])
def test_syntax_error_location(text: str, where: str, near: str) -> None:
    message = _error(text)
    assert message.startswith(f"m.sql:{where}: syntax error at or near {near}")
    assert "\n" not in message


def test_syntax_error_at_end_of_input_points_past_the_last_token() -> None:
    # pglast gives no offset for "at end of input": it used to crash with a TypeError.
    assert _error("SELECT (") == "m.sql:1:9: syntax error at end of input"
    assert _error("SELECT 1;\nSELECT (\n\n  \n") == "m.sql:2:9: syntax error at end of input"


def test_unterminated_string() -> None:
    assert _error("SELECT 1;\nSELECT 'oops;\n").startswith("m.sql:2:8: unterminated quoted string")


def test_line_col() -> None:
    text = "ab\ncdé\nf"
    assert line_col(text, 0) == (1, 1)
    assert line_col(text, 3) == (2, 1)
    assert line_col(text, 5) == (2, 3)
    assert line_col(text, 7) == (3, 1)
    assert line_col(text, 99) == (3, 2)  # clamped to the end


# --- statement locations ------------------------------------------------------------------------

def test_statement_locations_skip_comments_and_count_characters() -> None:
    text = ("-- leading comment\n"
            "/* block /* nested */ still */ SELECT 'ünïcödé';  SELECT 2;\n"
            "\n"
            "   ALTER TABLE t\n  ADD COLUMN x int;")
    stmts = parse_text(text, "m.sql", file_index=3, first_index=10)
    assert [(s.location.line, s.location.col) for s in stmts] == [(2, 32), (2, 51), (4, 4)]
    assert [s.sql for s in stmts] == ["SELECT 'ünïcödé'", "SELECT 2", "ALTER TABLE t\n  ADD COLUMN x int"]
    assert [s.index for s in stmts] == [10, 11, 12]
    assert {s.file_index for s in stmts} == {3}
    assert [s.kind for s in stmts] == ["SelectStmt", "SelectStmt", "AlterTableStmt"]
    assert str(stmts[2].location) == "m.sql:4:4"


def test_last_statement_without_semicolon() -> None:
    (stmt,) = parse_text("\n\nDROP TABLE t", "m.sql")
    assert (stmt.location.line, stmt.location.col, stmt.sql) == (3, 1, "DROP TABLE t")


# --- reading files ------------------------------------------------------------------------------

def test_read_text_strips_a_bom(tmp_path: Path) -> None:
    p = tmp_path / "a.sql"
    p.write_bytes(b"\xef\xbb\xbfSELECT 1;")
    assert read_text(p) == "SELECT 1;"


def test_read_text_rejects_nul_bytes(tmp_path: Path) -> None:
    p = tmp_path / "a.sql"
    p.write_bytes(b"SELECT 1;\x00\x01\x02")
    with pytest.raises(InputError, match=r"a\.sql:1:1: not a text file"):
        read_text(p)


@pytest.mark.parametrize("data, where", [
    (b"SELECT 1;\n-- caf\xe9\n", "2:7"),  # Latin-1: the bad byte's own column
    (b"SELECT '\xc3\xa9\xff';", "1:10"),  # columns count characters, not bytes
    (b"\xef\xbb\xbfSELECT \xff", "1:8"),  # a BOM is not a column
    (b"\xff\xfeS\x00", "1:1"),  # UTF-16
])
def test_read_text_rejects_non_utf8_with_location(tmp_path: Path, data: bytes, where: str) -> None:
    p = tmp_path / "a.sql"
    p.write_bytes(data)
    if b"\x00" in data:
        with pytest.raises(InputError, match="not a text file"):
            read_text(p)
        return
    with pytest.raises(InputError) as info:
        read_text(p)
    assert str(info.value).startswith(f"{p}:{where}: not UTF-8 text")


def test_read_text_unreadable(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        read_text(tmp_path)  # a directory


def test_collect_files_lexical_order(tmp_path: Path) -> None:
    for name in ["0010_c.sql", "0002_b.sql", "0001_a.sql", "notes.txt", "0003.SQL.bak"]:
        (tmp_path / name).write_text("SELECT 1;")
    (tmp_path / "sub.sql").mkdir()  # a directory named like a file is not read
    assert [Path(p).name for p in collect_files([tmp_path])] == ["0001_a.sql", "0002_b.sql", "0010_c.sql"]


def test_collect_files_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no migration given"):
        collect_files([])
    with pytest.raises(InputError, match="no such file or directory"):
        collect_files([tmp_path / "missing.sql"])
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(InputError, match="directory holds no .sql files"):
        collect_files([tmp_path])


@pytest.mark.parametrize("content", ["", "   \n\t\n", "-- only a comment\n/* and a block */\n", ";;"])
def test_load_migration_rejects_files_without_statements(tmp_path: Path, content: str) -> None:
    p = tmp_path / "0001.sql"
    p.write_text(content)
    with pytest.raises(InputError, match=r"0001\.sql:1:1: no SQL statements in this file"):
        load_migration([p])


def test_load_migration_numbers_statements_across_files(tmp_path: Path) -> None:
    (tmp_path / "0002.sql").write_text("SELECT 3;")
    (tmp_path / "0001.sql").write_text("SELECT 1;\nSELECT 2;")
    m = load_migration([tmp_path])
    assert m.name == tmp_path.name
    assert m.files == (str(tmp_path / "0001.sql"), str(tmp_path / "0002.sql"))
    assert [(s.index, s.file_index, s.sql) for s in m.statements] == [
        (0, 0, "SELECT 1"), (1, 0, "SELECT 2"), (2, 1, "SELECT 3")]
    assert m.statements[2].location.file == str(tmp_path / "0002.sql")


def test_syntax_error_names_the_right_file(tmp_path: Path) -> None:
    (tmp_path / "0001.sql").write_text("SELECT 1;")
    (tmp_path / "0002.sql").write_text("SELECT 1;\n  SELEC 2;")
    with pytest.raises(InputError) as info:
        load_migration([tmp_path])
    assert str(info.value).startswith(f"{tmp_path / '0002.sql'}:2:3: syntax error")


# --- directives ---------------------------------------------------------------------------------

def test_directive_attaches_to_the_next_statement() -> None:
    text = ("SELECT 1;\n"
            "-- migspec: allow dropping-table, truncating-table reason: table is unused since v2\n"
            "  -- migspec: confirm public.orders reason: archived\n"
            "DROP TABLE orders;\n"
            "SELECT 2;")
    first, drop, last = parse_text(text, "m.sql")
    assert first.directives == () and last.directives == ()
    allow, confirm = drop.directives
    assert (allow.verb, allow.targets, allow.reason) == (
        "allow", ("dropping-table", "truncating-table"), "table is unused since v2")
    assert str(allow.location) == "m.sql:2:1"
    assert (confirm.verb, confirm.targets, confirm.reason) == ("confirm", ("public.orders",), "archived")
    assert str(confirm.location) == "m.sql:3:3"


@pytest.mark.parametrize("text, message", [
    ("-- migspec: allow dropping-table\nDROP TABLE t;", "m.sql:1:1: 'migspec: allow' needs a reason"),
    ("-- migspec: allow dropping-table reason:   \nDROP TABLE t;", "m.sql:1:1: 'migspec: allow' needs a reason"),
    ("SELECT 1;\n-- migspec: allowed dropping-table reason: x\nDROP TABLE t;",
     "m.sql:2:1: unreadable migspec directive"),
    ("-- migspec:\nDROP TABLE t;", "m.sql:1:1: unreadable migspec directive"),
    ("DROP TABLE t;\n-- migspec: allow dropping-table reason: x\n",
     "m.sql:2:1: migspec directive is not followed by a statement"),
    ("DROP TABLE t;\n\n   -- migspec: allow dropping-table reason: x", 
     "m.sql:3:4: migspec directive is not followed by a statement"),
    ("ALTER TABLE t\n  -- migspec: allow renaming-column reason: x\n  RENAME COLUMN a TO b;",
     "m.sql:2:3: migspec directive inside a statement applies to nothing"),
    ("SELECT 1;\nSELECT 'é', /* -- migspec: allow x reason: y */ 1;",
     "m.sql:2:13: migspec directive inside a statement applies to nothing"),
])
def test_bad_directives(text: str, message: str) -> None:
    assert _error(text).startswith(message)


def test_directive_text_in_a_string_literal_is_not_a_directive() -> None:
    stmts = parse_text("COMMENT ON TABLE t IS '-- migspec: allow x';\nSELECT $$\n-- migspec: allow y\n$$;", "m.sql")
    assert [s.directives for s in stmts] == [(), ()]
