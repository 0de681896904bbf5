"""``python -m migspec.rules``: write ``_kinds.py`` from the rule modules as they are."""

from __future__ import annotations

from pathlib import Path

from migspec.rules import kinds_source

if __name__ == "__main__":
    target = Path(__file__).with_name("_kinds.py")
    target.write_text(kinds_source(), encoding="utf-8")
    print(f"wrote {target}")
