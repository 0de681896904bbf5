"""Where text output goes and how it looks there: colour (rich) on a terminal, plain text when
piped; ``--color auto|always|never`` and ``NO_COLOR`` (https://no-color.org) decide. rich is
imported only when colour is wanted, so piped and JSON output never pay for it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import IO, Any

from migspec.render.layout import PLAIN_WIDTH, Block, Line, layout, plain

COLOR_CHOICES = ("auto", "always", "never")

#: Style names (migspec.render.layout) -> rich styles. Risk by colour; lock and estimate stand out.
THEME = {
    "risk.GREEN": "bold green", "risk.YELLOW": "bold yellow", "risk.RED": "bold red",
    "heading": "bold", "lock": "bold magenta", "estimate": "bold cyan", "location": "blue",
    "rule": "dim", "label": "dim", "comment": "italic dim", "note": "yellow", "confirm": "bold red",
}


def wants_color(mode: str, stream: IO[str], environ: dict[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    if mode == "always":
        return True
    if mode == "never" or environ.get("NO_COLOR", ""):  # no-color.org: set and not empty
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and environ.get("TERM") != "dumb"


def terminal_width(stream: IO[str]) -> int:
    """The terminal's columns (COLUMNS wins, as everywhere), else the plain width."""
    isatty = getattr(stream, "isatty", None)
    if os.environ.get("COLUMNS", "").isdigit() or (isatty and isatty()):
        return max(40, terminal_columns(PLAIN_WIDTH))
    return PLAIN_WIDTH


def terminal_columns(fallback: int = 80) -> int:
    """``shutil.get_terminal_size(...).columns``: COLUMNS when set to a positive number, else the
    width of the terminal standard output is on, else ``fallback``. Written out because importing
    shutil (bz2, lzma, fnmatch) cost ~2 ms at every start and argparse asks for the width at each
    ``add_argument`` (migspec.cli's parser passes this; issue 16)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        import sys

        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else fallback


def write(blocks: Sequence[Block], stream: IO[str], color: str = "auto") -> None:
    """``blocks`` to ``stream``: coloured to the terminal's width, or plain at PLAIN_WIDTH when piped."""
    if not wants_color(color, stream):
        isatty = getattr(stream, "isatty", None)
        width = terminal_width(stream) if isatty and isatty() else PLAIN_WIDTH
        stream.write(plain(layout(blocks, width)))
        return
    from rich.console import Console

    width = terminal_width(stream)
    # no_color=False: NO_COLOR was weighed above (--color always wins over it, as no-color.org allows).
    console = Console(file=stream, width=width, force_terminal=True, highlight=False, soft_wrap=True,
                      no_color=False, color_system="auto" if color == "auto" else "standard")
    print_lines(console, layout(blocks, width))


def print_lines(console: Any, lines: Sequence[Line]) -> None:
    """Laid-out lines on a rich Console: styles from THEME, SQL highlighted by pygments' SQL lexer.
    Lines are printed as laid out (soft_wrap): an unbreakable SQL token longer than the terminal is
    left to the terminal to wrap, never cut."""
    from rich.style import Style
    from rich.syntax import Syntax
    from rich.text import Text

    syntax = Syntax("", "sql", theme="ansi_dark", background_color="default")
    styles = {name: Style.parse(spec) for name, spec in THEME.items()}
    for line in lines:
        text = Text(end="\n", no_wrap=True)
        for piece, style in line:
            if style == "sql":
                highlighted = syntax.highlight(piece)
                highlighted.rstrip()
                text.append_text(highlighted)
            else:
                text.append(piece, styles.get(style))
        text.rstrip()
        console.print(text, soft_wrap=True)


def render_to_string(blocks: Sequence[Block], *, width: int, color: bool, color_system: str = "standard") -> str:
    """What ``write`` prints, at a given width, with or without colour (snapshot tests, the README)."""
    if not color:
        return plain(layout(blocks, width))
    import io

    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=True, color_system=color_system,  # type: ignore[arg-type]
                      highlight=False, soft_wrap=True, no_color=False, legacy_windows=False)
    print_lines(console, layout(blocks, width))
    return out.getvalue()
