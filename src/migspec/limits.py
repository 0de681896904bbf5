"""Bounds on every input migspec reads, in one place; each refusal message is built from them.

Without them one file could make migspec hang or exhaust memory: ``lint /dev/zero`` grew to 3 GB
in 8 s, a YAML stats file of 26 MB took 95 s, an expression nested 50,000 deep crashes the
parser's C code, a 5,000-digit number raised a traceback. Measured on the 2-core CI machine
(while other jobs ran): pglast builds ~4 node objects per 10 bytes of DDL, so 7.8 MB of CREATE
TABLE statements took 325 s and 968 MB to lint; a 28 MB JSON stats file loads in 17 s and 265 MB,
a 2.6 MB YAML one in 9 s (libyaml's events, PyYAML's scalar rules). The figures are far above any real migration, schema dump, stats or plan
file, and keep one run under ~1 GB and a few minutes at worst.
"""

from __future__ import annotations

MiB = 1024 * 1024

#: Bytes of SQL per input: a migration's files together, or one ``--schema`` pg_dump file.
MAX_SQL_BYTES = 4 * MiB
#: Statements per input (a migration's files together, or one ``--schema`` file).
MAX_STATEMENTS = 50_000
#: Nesting of one SQL expression: brackets, CASE, and chained operators (``a + b + ...``).
MAX_SQL_NESTING = 100
#: Bytes of a JSON document (a stats file, a plan, an approval record, a calibration file).
MAX_JSON_BYTES = 64 * MiB
#: Bytes of a YAML document (its scalars go through PyYAML's Python rules: ~5x slower than JSON).
MAX_YAML_BYTES = 8 * MiB
#: Nesting of a stats, plan or calibration document (the deepest real one has 6 levels).
MAX_DOCUMENT_DEPTH = 32
#: Digits of one number in a stats, plan or calibration document (a bigint has 19).
MAX_NUMBER_DIGITS = 40


def size(n: int) -> str:
    """``8 MiB`` / ``512 KiB`` / ``100 bytes``: a limit as a message states it."""
    if n >= MiB and n % MiB == 0:
        return f"{n // MiB} MiB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n:,} bytes"
