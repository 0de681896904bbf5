"""Connection strings: the one place a ``--dsn`` is parsed and connected, and the rule that no
password ever reaches an output.

Every command that takes ``--dsn`` (measure, apply, rollback, verify) parses it here before doing
anything else (the CLI's ``--dsn`` type), and every connection to a user's database is opened
here. A DSN libpq cannot parse is one line naming no part of it: libpq's own message quotes the
offending word (``missing "=" after "secret"``, ``invalid percent-encoded token: "S3%zz"``, the
whole URI for a bad IPv6 host), and in a malformed DSN that word may be the password.

Every password migspec may learn - in a ``--dsn`` (URI or keyword=value, quoted, %-encoded or
not), in a word of the command line, in ``PGPASSWORD``, in the password file or the connection
service file - is remembered, and :func:`scrub` removes them all from any text. The CLI passes
every message, log line and (for a bug) traceback through it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from typing import TYPE_CHECKING

from migspec.errors import InputError

if TYPE_CHECKING:
    import psycopg

#: Seconds libpq waits for the server to answer a connection attempt (unless the DSN says).
CONNECT_TIMEOUT = 10
#: What replaces a password in any text.
MASK = "***"

MALFORMED = ("not a valid connection string: expected keyword=value pairs (host=... port=... dbname=... "
             "user=..., a value with spaces in single quotes) or a postgresql:// URI (%-encode special characters)")

_PASSWORD_KV = r"password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&]+)"
# Everything after "password=" up to the next "keyword=" or the end: an unquoted password with a
# space ("password=my secret") is one secret to the user, two words to libpq.
_PASSWORD_RUN = r"password\s*=\s*(.+?)\s*(?=\s\w+\s*=|$)"
_PASSWORD_URI = r"[a-z]+://[^/@?#\s]*?:([^/@?#\s]*)@"
#: Words of an unquoted password shorter than this are not masked on their own (the whole is).
_MIN_WORD = 4

_known: set[str] = set()


class DsnError(InputError):
    """A DSN that cannot be parsed or connected to: one line for the user, exit 2."""


def secrets_in(dsn: str) -> tuple[str, ...]:
    """Every spelling of the password ``dsn`` holds: as written (quoted or %-encoded) and decoded;
    longest first, so a secret that contains another is replaced whole."""
    found: list[str] = []
    # Neither "key=value" nor a URI: not a DSN libpq reads (a path, a flag), no need to ask it.
    password = _conninfo(dsn).get("password") if "=" in dsn or "://" in dsn else None
    if password:
        found.append(str(password))
    # The patterns are compiled (re's cache) only for a text that can hold what they look for:
    # every word of every command line passes here, and three case-insensitive patterns were ~3 M
    # instructions of lint's start (issue 16). casefold() meets every spelling IGNORECASE does (ſ).
    if "password" in dsn.casefold():
        for match in re.finditer(_PASSWORD_KV, dsn, re.IGNORECASE):
            found += [match.group(1), match.group(1).strip("'")]
        for match in re.finditer(_PASSWORD_RUN, dsn, re.IGNORECASE | re.DOTALL):
            run = match.group(1)
            found += [run, run.strip("'")]
            found += [w for w in run.split() if len(w) >= _MIN_WORD]
    if "://" in dsn:
        for match in re.finditer(_PASSWORD_URI, dsn, re.IGNORECASE):
            found.append(match.group(1))
    return tuple(sorted({s for s in found if s and s != "''"}, key=len, reverse=True))


def _conninfo(dsn: str) -> dict[str, object]:
    """libpq's reading of a DSN; {} when it reads none. psycopg is imported here, not at import
    time: every word of a command line passes through ``remember``, and lint needs no psycopg."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        return conninfo_to_dict(dsn)
    except (psycopg.Error, ValueError, TypeError):
        return {}


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def remember(text: str) -> None:
    """Remember the passwords in ``text`` (a DSN, or any word of a command line) for :func:`scrub`."""
    _known.update(secrets_in(text))


def forget() -> None:
    """Start a new command: the passwords remembered belong to the one before (main() in-process)."""
    _known.clear()


def _file_passwords() -> set[str]:
    """Passwords libpq may read on its own: PGPASSWORD, the password file (last field of each
    line, ``\\:`` escapes) and ``password=`` lines of the connection service files."""
    from pathlib import Path  # here: lint's start-up does without it (issue 16)

    found = {os.environ["PGPASSWORD"]} if os.environ.get("PGPASSWORD") else set()
    home = Path(os.environ.get("HOME") or "~").expanduser()
    passfile = Path(os.environ.get("PGPASSFILE") or home / ".pgpass")
    services = [Path(os.environ.get("PGSERVICEFILE") or home / ".pg_service.conf")]
    if os.environ.get("PGSYSCONFDIR"):
        services.append(Path(os.environ["PGSYSCONFDIR"]) / "pg_service.conf")
    for path, pick in [(passfile, _pgpass_password)] + [(s, _service_password) for s in services]:
        try:
            if not path.is_file() or path.stat().st_size > 1 << 20:  # a real one is a few lines
                continue
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        found.update(p for p in map(pick, lines) if p)
    return found


def _pgpass_password(line: str) -> str | None:
    if line.lstrip().startswith("#"):
        return None
    fields = re.split(r"(?<!\\):", line, maxsplit=4)
    return fields[4].replace("\\:", ":").replace("\\\\", "\\") if len(fields) == 5 else None


def _service_password(line: str) -> str | None:
    key, eq, value = line.strip().partition("=")
    return value.strip() if eq and key.strip().lower() == "password" else None


def scrub(text: str) -> str:
    """``text`` with every password migspec knows of masked."""
    return redact(text, _known | _file_passwords())


def check(dsn: str, *, flag: str = "--dsn") -> dict[str, str]:
    """The DSN's keywords (remembering its password), or a DsnError that names no part of it."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    remember(dsn)
    try:
        return {k: str(v) for k, v in conninfo_to_dict(dsn).items()}
    except (psycopg.Error, ValueError, TypeError):
        raise DsnError(f"{flag} is {MALFORMED}") from None


def first_line(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """The first non-empty line of an error's message, every known password masked."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    text = lines[0].removeprefix("connection failed: ") if lines else type(exc).__name__
    return redact(scrub(text), secrets)


def connect(dsn: str, *, application_name: str, autocommit: bool = True, flag: str = "--dsn",
            **kwargs: object) -> psycopg.Connection:
    """A connection to a user's database, or a DsnError (exit 2) naming the host and libpq's
    reason, with the password masked."""
    import psycopg

    params = check(dsn, flag=flag)
    secrets = secrets_in(dsn)
    if "connect_timeout" not in params:
        kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT)
    try:
        return psycopg.connect(dsn, autocommit=autocommit, application_name=application_name,
                               **kwargs)  # type: ignore[arg-type]
    except psycopg.Error as exc:
        where = params.get("host") or params.get("hostaddr") or params.get("service") or "the default server"
        raise DsnError(f"cannot connect to {redact(scrub(where), secrets)}: {first_line(exc, secrets)}") from None


def dsn_argument(text: str) -> str:
    """argparse ``type`` for ``--dsn``: a malformed DSN is an argparse error whose message names
    no part of it (argparse echoes the value only for ValueError/TypeError)."""
    import argparse

    try:
        check(text)
    except DsnError:
        raise argparse.ArgumentTypeError(MALFORMED) from None
    return text
