"""The collabora scenario runs sovctl's Collabora probes (also run by `sovctl verify`)."""

from sovctl.probes import collabora
from sovctl.probes.pytest_adapter import probe_run, tests_for  # noqa: F401 - the fixture

test_collabora = tests_for(collabora.suite)
