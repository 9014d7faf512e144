"""The stack scenario runs sovctl's shared redis checks against the sandbox's hosts."""

from sovctl.checks.redis import *  # noqa: F403
