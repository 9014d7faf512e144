"""The livekit scenario runs sovctl's shared LiveKit checks (also used by `sovctl verify`)."""

from sovctl.checks.livekit import *  # noqa: F403
