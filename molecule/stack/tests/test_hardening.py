"""The stack scenario runs sovctl's shared hardening checks against the sandbox's hosts."""

from sovctl.checks.hardening import *  # noqa: F403
