"""'Did you mean ...?' for a mistyped command, choice or rule name (difflib's close matches)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'lint'?)`` when ``word`` is close to one of ``choices`` (the closest), else ``""``."""
    close = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
