"""File names as ``pathlib`` spells and checks them, without importing ``pathlib``.

Why: ``pathlib`` imports ``urllib.parse`` and with it ``ipaddress``: ~17 M instructions at every
start of ``migspec lint`` (issue 16: one small file in under 100 ms; callgrind, CPython 3.11),
for the few things lint asks of a file name. The code that reads the files lint reads (the
migration's SQL, the stats file, pyproject.toml) uses these; everything else keeps ``pathlib``.

Each function gives what the ``pathlib`` expression in its docstring gives on POSIX (a test
compares them on generated names): messages and statement locations name files as before.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

#: The errors ``Path.exists()`` / ``is_dir()`` / ``is_file()`` read as "no" (pathlib's
#: _IGNORED_ERRNOS); any other OSError (a name too long, no permission) is raised.
_NO = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP})


def display(path: Any) -> str:
    """``str(Path(path))``: empty and ``.`` parts and repeated or trailing slashes dropped, a
    leading ``//`` (exactly two) kept, ``.`` for nothing."""
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    root = ""
    if text.startswith("/"):
        root = "//" if text.startswith("//") and not text.startswith("///") else "/"
    parts = [p for p in text.split("/") if p and p != "."]
    return root + "/".join(parts) if (root or parts) else "."


def name(path: Any) -> str:
    """``Path(path).name``: the last part, empty for a root or ``.``."""
    text = display(path)
    if text in (".", "/", "//"):
        return ""
    return text.rsplit("/", 1)[-1]


def stem(path: Any) -> str:
    """``Path(path).stem``: the name without its last suffix (a leading dot is not a suffix)."""
    last = name(path)
    dot = last.rfind(".")
    return last[:dot] if 0 < dot < len(last) - 1 else last


def suffix(path: Any) -> str:
    """``Path(path).suffix``."""
    last = name(path)
    dot = last.rfind(".")
    return last[dot:] if 0 < dot < len(last) - 1 else ""


def _mode(path: Any) -> int | None:
    try:
        return os.stat(path).st_mode
    except OSError as exc:
        if exc.errno not in _NO:
            raise
        return None
    except ValueError:  # a NUL byte in the name
        return None


def exists(path: Any) -> bool:
    """``Path(path).exists()``."""
    return _mode(path) is not None


def is_dir(path: Any) -> bool:
    """``Path(path).is_dir()``."""
    mode = _mode(path)
    return mode is not None and stat.S_ISDIR(mode)


def is_file(path: Any) -> bool:
    """``Path(path).is_file()``."""
    mode = _mode(path)
    return mode is not None and stat.S_ISREG(mode)
