"""migspec.paths names and checks files as pathlib does (it exists so that lint's start-up does
without importing pathlib): compared with pathlib on generated names and on real files."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migspec import paths

names = st.lists(st.sampled_from(["", ".", "..", "a", "b.sql", ".hidden", "x.tar.gz", "end.", "-", "ü", " s "]),
                 max_size=5).map("/".join) | st.text(alphabet="/.ab", max_size=12)


@settings(max_examples=800, deadline=None)
@given(names)
def test_names_are_pathlibs(text: str) -> None:
    pure = PurePosixPath(text)
    assert paths.display(text) == str(pure)
    assert paths.display(pure) == str(pure)
    assert paths.name(text) == pure.name
    assert paths.stem(text) == pure.stem
    assert paths.suffix(text) == pure.suffix


def test_checks_are_pathlibs(tmp_path: Path) -> None:
    (tmp_path / "f.sql").write_text("SELECT 1;\n")
    (tmp_path / "d").mkdir()
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    cases = [tmp_path / "f.sql", tmp_path / "d", tmp_path / "missing", tmp_path / "f.sql" / "under", tmp_path / "loop",
             tmp_path / "dangling", "/dev/null", str(tmp_path / "nul\x00byte")]
    for case in cases:
        for ours, theirs in ((paths.exists, Path.exists), (paths.is_dir, Path.is_dir), (paths.is_file, Path.is_file)):
            assert ours(case) == theirs(Path(case)), (case, ours.__name__)
    long = tmp_path / ("x" * 300)  # ENAMETOOLONG: an error to report, not a "no"
    for check in (paths.exists, paths.is_dir, paths.is_file):
        with pytest.raises(OSError) as ours:
            check(long)
        with pytest.raises(OSError) as theirs:
            Path(long).exists()
        assert ours.value.errno == theirs.value.errno
