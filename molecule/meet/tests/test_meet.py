"""The meet scenario runs sovctl's shared meeting app checks (also used by `sovctl verify`)."""

from sovctl.checks.meet import *  # noqa: F403
