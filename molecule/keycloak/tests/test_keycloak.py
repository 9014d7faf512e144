"""The keycloak scenario runs sovctl's Keycloak probes (also run by `sovctl verify`)."""

from sovctl.probes import keycloak
from sovctl.probes.pytest_adapter import probe_run, tests_for  # noqa: F401 - the fixture

test_keycloak = tests_for(keycloak.suite)
