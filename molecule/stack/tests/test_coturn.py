"""The stack scenario runs sovctl's shared coturn checks against the sandbox's hosts."""

from sovctl.checks.coturn import *  # noqa: F403
