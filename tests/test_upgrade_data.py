"""The generated removed-API data: the generator, run against the pinned source distributions
(downloaded once into the framework cache), reproduces the committed files byte for byte, and the
rows cover every removal the Django release notes list from 5.0 to the pinned release."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from migspec.upgrade import removals
from migspec.upgrade.django import release_path, releases
from upgrade_env import cache_root

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))

import gen_upgrade_data as gen  # noqa: E402


@pytest.fixture(scope="module")
def sdists() -> Path:
    cache = cache_root() / "sdists"
    try:
        gen.download(f"django=={gen.DJANGO}", cache)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot download Django's sdist from the package index: {exc}")
    return cache


def test_generator_reproduces_the_committed_data(sdists: Path) -> None:
    run = subprocess.run([sys.executable, str(REPO / "tools" / "gen_upgrade_data.py"), "--check", "--cache",
                          str(sdists)], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]


def test_every_release_note_removal_is_covered(sdists: Path) -> None:
    """Each bullet of "Features removed in X.Y" (5.0 on) names at least one symbol a row holds."""
    docs = gen.read_members(gen.download(f"django=={gen.DJANGO}", sdists), r"docs/releases/\d+\.\d+\.txt")
    rows = removals.rows("django")
    checked = 0
    for version in release_path("4.2", gen.DJANGO):
        text = docs[f"docs/releases/{version}.txt"]
        section = re.search(rf"^Features removed in {re.escape(version)}\n=+\n(.*?)(?=^\S.*\n={{3,}}\n|\Z)", text,
                            re.S | re.M)
        if section is None:
            continue  # an LTS (X.2) removes nothing
        for _, bullet, nested in gen.bullets(section.group(1).splitlines(), 0):
            names = [i for i, _ in gen.identifiers(bullet + " ".join(nested)) if gen._symbolic(i)]
            if not names:
                continue
            checked += 1
            ours = [r for r in rows if r.removed_in == version]
            assert any(n == r.symbol or n.endswith("." + r.symbol) or r.symbol.endswith(n) or n in r.owners
                       for n in names for r in ours), f"{version}: {gen.plain(bullet)}"
    assert checked >= 60  # 5.0, 5.1, 6.0 and 6.1 list 68 such bullets


def test_release_facts_come_from_the_release_notes() -> None:
    assert releases()["5.2"]["min_postgresql"] == 14 and releases()["5.2"]["lts"]
    assert "3.11" in releases()["5.2"]["python"] and "3.11" not in releases()["6.0"]["python"]
    assert release_path("4.2.30", "5.2") == ("5.0", "5.1", "5.2")


def test_rows_are_sourced_and_typed() -> None:
    for framework in removals.FRAMEWORKS:
        for row in removals.rows(framework):
            assert row.severity in ("loud", "silent") and row.removed_in and row.source
            assert row.kind in ("import", "attribute", "method", "keyword", "setting", "meta", "template", "pattern",
                                "behavior")
    sa = {r.label for r in removals.rows("sqlalchemy")}
    assert {"Engine.execute", "MetaData(bind=)"} <= sa
    silent = {r.symbol for r in removals.rows("sqlalchemy") if r.severity == "silent"}
    assert any("true division" in s for s in silent) and any("autocommit" in r.text.lower() for r in
                                                             removals.rows("sqlalchemy") if r.severity == "silent")
