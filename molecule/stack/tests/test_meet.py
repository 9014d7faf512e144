"""The meeting app in the sandbox, checked as users meet it (sovctl's shared checks, also
run by `sovctl verify`): two users sign in through Keycloak's page in headless Chromium
and see each other's video; forged sessions and tokens are refused."""

from sovctl.checks.meet import *  # noqa: F403
