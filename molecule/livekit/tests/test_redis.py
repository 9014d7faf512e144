"""The livekit scenario runs sovctl's shared Redis checks (also used by `sovctl verify`)."""

from sovctl.checks.redis import *  # noqa: F403
