"""The stack scenario runs sovctl's shared keycloak checks against the sandbox's hosts."""

from sovctl.checks.keycloak import *  # noqa: F403
