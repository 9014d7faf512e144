"""The coturn scenario runs sovctl's shared coturn checks (also used by `sovctl verify`)."""

from sovctl.checks.coturn import *  # noqa: F403
