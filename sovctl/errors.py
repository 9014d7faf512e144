"""sovctl's own errors and exit codes.

Ansible's exit code is passed through unchanged by ``deploy`` (0 ok, 1 error,
2 host failed, 4 unreachable/parse error, 5 bad options, 99 interrupted, 250 unexpected
error). Every command's codes: docs/architecture.md. sovctl's own failures use codes
that Ansible never returns:

====  ===========================================================
code  meaning
====  ===========================================================
2     ``audit`` only: bad input (the residency audit contract)
65    bad input: inventory, variable or file a user must fix
69    a required tool or service is unavailable (podman, ansible)
70    internal error (a bug: please report it, run with --debug)
80    ``deploy --check --fail-on-change`` found changes (drift)
130   interrupted by the user (Ctrl-C)
====  ===========================================================
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_AUDIT_BAD_INPUT = 2
EXIT_BAD_INPUT = 65
EXIT_UNAVAILABLE = 69
EXIT_INTERNAL = 70
EXIT_DRIFT = 80
EXIT_INTERRUPTED = 130


class SovctlError(Exception):
    """An error the user can act on: a message, a hint and an exit code."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, hint: str | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code


class InputError(SovctlError):
    """Something the user wrote is wrong: names the file, the field and the fix."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None,
                 hint: str | None = None, exit_code: int | None = None):
        where = ": ".join(p for p in (file, field) if p)
        super().__init__(f"{where}: {message}" if where else message, hint, exit_code)
        self.file = file
        self.field = field


class UnavailableError(SovctlError):
    exit_code = EXIT_UNAVAILABLE
