"""The stack scenario runs sovctl's shared livekit checks against the sandbox's hosts."""

from sovctl.checks.livekit import *  # noqa: F403
