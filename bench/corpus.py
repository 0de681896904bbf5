"""A generated corpus of mixed DDL/DML migration statements, its stats file and its schema file.

The corpus is deterministic (seeded): the same ``n`` gives the same statements, so runs compare.
Statements touch ``TABLES`` pre-existing tables (the stats file measures every one of them, as
migspec refuses without measurements) and create a few tables of their own.  Every name a
statement adds is fresh, so the corpus stays valid SQL whatever order a tool reads it in, and
both linters parse all of it.
"""

from __future__ import annotations

import random
from pathlib import Path

TABLES = 50
BASE_COLUMNS = (
    ("id", "bigint", True),
    ("account_id", "bigint", False),
    ("status", "text", False),
    ("amount", "numeric(12,2)", False),
    ("created_at", "timestamptz", True),
    ("note", "text", False),
    ("flag", "boolean", False),
)


def table_name(i: int) -> str:
    return f"t{i:03d}"


def _statements(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out: list[str] = []
    counter = 0
    # Columns added so far per table (name, type), indexes added so far per table.
    added: dict[str, list[tuple[str, str]]] = {table_name(i): [] for i in range(TABLES)}
    indexes: dict[str, list[str]] = {table_name(i): [] for i in range(TABLES)}

    def fresh(prefix: str) -> str:
        nonlocal counter
        counter += 1
        return f"{prefix}{counter}"

    kinds = [
        ("add_column", 12), ("add_column_default", 5), ("add_column_volatile", 3), ("add_not_null_default", 3),
        ("create_index", 8), ("create_index_concurrently", 8), ("drop_index", 3), ("set_not_null", 4),
        ("add_fk", 3), ("add_fk_not_valid", 3), ("add_check", 3), ("alter_type", 3), ("rename_column", 2),
        ("drop_column", 3), ("update", 8), ("delete", 4), ("insert", 8), ("set_lock_timeout", 3),
        ("create_table", 4), ("comment", 3), ("transaction", 3), ("drop_default", 2),
    ]
    names = [k for k, _ in kinds]
    weights = [w for _, w in kinds]
    while len(out) < n:
        kind = rng.choices(names, weights)[0]
        t = table_name(rng.randrange(TABLES))
        cols = added[t]
        if kind == "add_column":
            c = fresh("c")
            typ = rng.choice(["text", "integer", "bigint", "timestamptz", "boolean", "jsonb"])
            cols.append((c, typ))
            out.append(f"ALTER TABLE {t} ADD COLUMN {c} {typ};")
        elif kind == "add_column_default":
            c = fresh("c")
            cols.append((c, "integer"))
            out.append(f"ALTER TABLE {t} ADD COLUMN {c} integer DEFAULT {rng.randrange(100)};")
        elif kind == "add_column_volatile":
            c = fresh("c")
            cols.append((c, "uuid"))
            out.append(f"ALTER TABLE {t} ADD COLUMN {c} uuid DEFAULT gen_random_uuid();")
        elif kind == "add_not_null_default":
            c = fresh("c")
            cols.append((c, "text"))
            out.append(f"ALTER TABLE {t} ADD COLUMN {c} text NOT NULL DEFAULT 'new';")
        elif kind in ("create_index", "create_index_concurrently"):
            col = rng.choice(["account_id", "status", "created_at"] + [c for c, _ in cols[-3:]])
            idx = fresh(f"{t}_idx")
            indexes[t].append(idx)
            conc = " CONCURRENTLY" if kind == "create_index_concurrently" else ""
            out.append(f"CREATE INDEX{conc} {idx} ON {t} ({col});")
        elif kind == "drop_index":
            if not indexes[t]:
                continue
            idx = indexes[t].pop(rng.randrange(len(indexes[t])))
            out.append(f"DROP INDEX {rng.choice(['', 'CONCURRENTLY '])}{idx};")
        elif kind == "set_not_null":
            col = rng.choice(["account_id", "status", "amount"])
            out.append(f"ALTER TABLE {t} ALTER COLUMN {col} SET NOT NULL;")
        elif kind in ("add_fk", "add_fk_not_valid"):
            ref = table_name(rng.randrange(TABLES))
            fk = fresh(f"{t}_fk")
            nv = " NOT VALID" if kind == "add_fk_not_valid" else ""
            out.append(f"ALTER TABLE {t} ADD CONSTRAINT {fk} FOREIGN KEY (account_id) REFERENCES {ref} (id){nv};")
            if nv and rng.random() < 0.7:
                out.append(f"ALTER TABLE {t} VALIDATE CONSTRAINT {fk};")
        elif kind == "add_check":
            ck = fresh(f"{t}_ck")
            out.append(f"ALTER TABLE {t} ADD CONSTRAINT {ck} CHECK (amount >= 0);")
        elif kind == "alter_type":
            ints = [c for c, typ in cols if typ == "integer"]
            if not ints:
                continue
            c = ints[-1]
            cols[:] = [(x, "bigint" if x == c else typ) for x, typ in cols]
            out.append(f"ALTER TABLE {t} ALTER COLUMN {c} TYPE bigint;")
        elif kind == "rename_column":
            if not cols:
                continue
            i = rng.randrange(len(cols))
            old, typ = cols[i]
            new = fresh("r")
            cols[i] = (new, typ)
            out.append(f"ALTER TABLE {t} RENAME COLUMN {old} TO {new};")
        elif kind == "drop_column":
            if not cols:
                continue
            c, _ = cols.pop(rng.randrange(len(cols)))
            out.append(f"ALTER TABLE {t} DROP COLUMN {c};")
        elif kind == "update":
            out.append(rng.choice([
                f"UPDATE {t} SET status = 'archived' WHERE created_at < now() - interval '2 years';",
                f"UPDATE {t} SET note = NULL;",
                f"UPDATE {t} SET amount = amount * 1.1 WHERE id = {rng.randrange(1, 10**6)};",
            ]))
        elif kind == "delete":
            out.append(rng.choice([
                f"DELETE FROM {t} WHERE status = 'deleted';",
                f"DELETE FROM {t} WHERE id = {rng.randrange(1, 10**6)};",
            ]))
        elif kind == "insert":
            out.append(f"INSERT INTO {t} (id, account_id, status, created_at) VALUES "
                       f"({rng.randrange(10**7, 10**8)}, {rng.randrange(1, 1000)}, 'new', now());")
        elif kind == "set_lock_timeout":
            out.append(f"SET lock_timeout = '{rng.choice([1, 2, 5])}s';")
        elif kind == "create_table":
            nt = fresh("new_table_")
            out.append(f"CREATE TABLE {nt} (id bigint PRIMARY KEY, {t}_id bigint REFERENCES {t} (id), "
                       f"payload jsonb, created_at timestamptz NOT NULL DEFAULT now());")
            out.append(f"CREATE INDEX {nt}_fk_idx ON {nt} ({t}_id);")
        elif kind == "comment":
            out.append(f"COMMENT ON TABLE {t} IS 'owned by team {rng.randrange(10)}';")
        elif kind == "transaction":
            c = fresh("c")
            cols.append((c, "text"))
            out.append("BEGIN;")
            out.append(f"ALTER TABLE {t} ADD COLUMN {c} text;")
            out.append(f"UPDATE {t} SET {c} = status WHERE id < 1000;")
            out.append("COMMIT;")
        elif kind == "drop_default":
            out.append(f"ALTER TABLE {t} ALTER COLUMN created_at DROP DEFAULT;")
    # A transaction split at the end would leave BEGIN without COMMIT: close it.
    out = out[:n]
    if out.count("BEGIN;") > out.count("COMMIT;"):
        out[-1] = "COMMIT;"
    return out


def write_corpus(directory: Path, n: int, files: int = 1) -> list[Path]:
    """Write ``n`` statements split evenly over ``files`` files; returns the paths in order."""
    directory.mkdir(parents=True, exist_ok=True)
    stmts = _statements(n)
    per = -(-len(stmts) // files)
    chunks: list[list[str]] = [[]]
    in_tx = False
    for s in stmts:
        # A new file starts every ``per`` statements, never inside a BEGIN..COMMIT block.
        if len(chunks[-1]) >= per and not in_tx and len(chunks) < files:
            chunks.append([])
        chunks[-1].append(s)
        in_tx = (in_tx or s == "BEGIN;") and s != "COMMIT;"
    paths = []
    for f, chunk in enumerate(chunks):
        path = directory / f"{f:04d}_migration.sql"
        path.write_text("-- generated by bench/corpus.py\n" + "\n".join(chunk) + "\n")
        paths.append(path)
    return paths


def write_stats(path: Path, rows: int = 2_000_000, write_qps: float = 50.0, pg_version: int = 15) -> Path:
    """Measurements for every corpus table (migspec refuses without them)."""
    lines = [
        f"pg_version: {pg_version}",
        "source: benchmark",
        "collected_at: 2026-01-01T00:00:00Z",
        "maintenance_window: none",
        "tables:",
    ]
    for i in range(TABLES):
        t = table_name(i)
        r = rows // (1 + i % 5)
        cols = ", ".join(f"{c}: {typ!r}" if "(" in typ else f"{c}: {typ}" for c, typ, _ in BASE_COLUMNS)
        lines.append(f"  public.{t}:")
        lines.append(f"    rows: {r}")
        lines.append(f"    size_bytes: {r * 120}")
        lines.append(f"    write_qps: {write_qps * (1 + i % 3):g}")
        lines.append("    lock_contention: {longest_transaction_seconds: 1.5, lock_waits_per_minute: 0.2}")
        lines.append(f"    columns: {{{cols}}}")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_schema(path: Path) -> Path:
    """The corpus tables as ``pg_dump --schema-only`` would describe them (for ``plan --schema``)."""
    parts = []
    for i in range(TABLES):
        t = table_name(i)
        cols = ",\n".join(f"    {c} {typ}{' NOT NULL' if nn else ''}" for c, typ, nn in BASE_COLUMNS)
        parts.append(f"CREATE TABLE public.{t} (\n{cols}\n);")
        parts.append(f"ALTER TABLE ONLY public.{t}\n    ADD CONSTRAINT {t}_pkey PRIMARY KEY (id);")
        parts.append(f"CREATE INDEX {t}_account_id_idx ON public.{t} USING btree (account_id);")
    path.write_text("\n\n".join(parts) + "\n")
    return path


SMALL_MIGRATION = """\
-- The pre-commit case: one small migration file.
ALTER TABLE t001 ADD COLUMN tracking_token uuid DEFAULT gen_random_uuid();
ALTER TABLE t001 ALTER COLUMN account_id SET NOT NULL;
CREATE INDEX t001_created_at_idx ON t001 (created_at);
ALTER TABLE t001 RENAME COLUMN note TO customer_note;
UPDATE t002 SET status = 'archived' WHERE created_at < now() - interval '2 years';
"""


def write_small(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SMALL_MIGRATION)
    return path


if __name__ == "__main__":  # quick look: python bench/corpus.py DIR N FILES
    import sys

    d = Path(sys.argv[1])
    write_corpus(d / "sql", int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    write_stats(d / "stats.yaml")
    write_schema(d / "schema.sql")
