"""The stack scenario runs sovctl's shared collabora checks against the sandbox's hosts."""

from sovctl.checks.collabora import *  # noqa: F403
