"""The coturn scenario runs sovctl's coturn probes (also run by `sovctl verify`)."""

from sovctl.probes import coturn
from sovctl.probes.pytest_adapter import probe_run, tests_for  # noqa: F401 - the fixture

test_coturn = tests_for(coturn.suite)
