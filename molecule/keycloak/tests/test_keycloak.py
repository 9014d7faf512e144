"""The keycloak scenario runs sovctl's shared Keycloak checks (also used by `sovctl verify`)."""

from sovctl.checks.keycloak import *  # noqa: F403
