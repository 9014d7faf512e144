"""The meet scenario runs sovctl's meeting app probes (also run by `sovctl verify`)."""

from sovctl.probes import meet
from sovctl.probes.pytest_adapter import probe_run, tests_for  # noqa: F401 - the fixture

test_meet = tests_for(meet.suite)
