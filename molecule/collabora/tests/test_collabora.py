"""The collabora scenario runs sovctl's shared Collabora checks (also used by `sovctl verify`)."""

from sovctl.checks.collabora import *  # noqa: F403
