"""Findings are identical whatever the parse layer does underneath (issue 16): every finding of
``lint`` on the benchmark corpus (bench/corpus.py, 10,000 statements, one file and 100 files),
the small pre-commit file and examples/ equals the reviewed golden file
tests/golden/lint_corpus_findings.json, written from main before the fast parse layer replaced
pglast's Python AST objects (regenerate with MIGSPEC_UPDATE_GOLDEN=1 and review the diff).

Every field of every finding is compared, and the plan's steps of the small file too, so a
changed message, estimate or location fails here, not only a changed verdict."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from migspec.lint import Finding, lint
from migspec.parse.source import load_migration
from migspec.stats import load_stats

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "lint_corpus_findings.json"
UPDATE = os.environ.get("MIGSPEC_UPDATE_GOLDEN") == "1"

sys.path.insert(0, str(ROOT / "bench"))
import corpus  # noqa: E402  (bench/corpus.py: the generated benchmark corpus)


def _value(v: Any) -> Any:
    if isinstance(v, float):
        return repr(v)  # exact: an estimate that moves in its last digit is a change
    if isinstance(v, (str, int, bool)) or v is None:
        return v
    return str(v)


def _finding(f: Finding, root: Path) -> dict[str, Any]:
    # why and cost are the parts of message the text format shows apart (issue 16): message is compared whole
    assert f.message.startswith(f.why) and all(c in f.message for c in f.cost), f
    row = {k: _value(v) for k, v in dataclasses.asdict(f).items() if k not in ("why", "cost")}
    row["location"] = str(f.location).replace(str(root) + "/", "")
    return row


def _findings(paths: list[Path], stats_path: Path, root: Path) -> list[dict[str, Any]]:
    report = lint(load_migration(paths), load_stats(str(stats_path)))
    return [_finding(f, root) for f in report.findings]


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("lint-golden")
    stats = corpus.write_stats(d / "stats.yaml")
    one = corpus.write_corpus(d / "one", 10_000)
    many = corpus.write_corpus(d / "many", 10_000, files=100)
    small = corpus.write_small(d / "small" / "0001_small.sql")
    out: dict[str, Any] = {}
    for name, paths in (("corpus-1-file", one), ("corpus-100-files", many), ("small", [small])):
        rows = _findings(paths, stats, d)
        # The 10,000-statement findings are kept as a digest of their canonical JSON plus the
        # first 100 in full (a 3 MB golden file would drown every review); a mismatch shows
        # the first differing finding below.
        text = json.dumps(rows, sort_keys=True)
        out[name] = {"count": len(rows), "sha256": hashlib.sha256(text.encode()).hexdigest(),
                     "first": rows[:100]}
    examples = sorted((ROOT / "examples" / "migrations").glob("*.sql"))
    rows = _findings(examples, ROOT / "examples" / "stats.yaml", ROOT)
    digest = hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()
    out["examples"] = {"count": len(rows), "sha256": digest, "first": rows}
    return out


def test_findings_identical_to_golden(observed: dict[str, Any]) -> None:
    if UPDATE:
        GOLDEN.write_text(json.dumps(observed, indent=1, sort_keys=True) + "\n")
    golden = json.loads(GOLDEN.read_text())
    assert sorted(observed) == sorted(golden)
    for name in golden:
        want, got = golden[name], observed[name]
        for i, (w, g) in enumerate(zip(want["first"], got["first"])):
            assert g == w, f"{name}: finding {i} differs"
        assert got["count"] == want["count"], name
        assert got["sha256"] == want["sha256"], f"{name}: findings beyond the first {len(want['first'])} differ"
