"""Errors a user can cause, each with its documented exit code.

The CLI turns these into one line on stderr and the exit code; nothing else should reach a user
as a traceback.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2
EXIT_REFUSED = 3
#: A bug in migspec: an exception nothing expected (one line, passwords masked; see cli.main).
EXIT_INTERNAL = 70  # sysexits.h EX_SOFTWARE


class MigspecError(Exception):
    """Base class: ``exit_code`` says how the process ends."""

    exit_code = EXIT_BAD_INPUT


class InputError(MigspecError):
    """Bad input: a file that cannot be read or parsed, a malformed stats file, a bad flag."""

    exit_code = EXIT_BAD_INPUT


class RefusedError(MigspecError):
    """migspec will not judge or plan without facts it lacks (measurements, schema)."""

    exit_code = EXIT_REFUSED
