"""The livekit scenario runs sovctl's LiveKit probes (also run by `sovctl verify`)."""

from sovctl.probes import livekit
from sovctl.probes.pytest_adapter import probe_run, tests_for  # noqa: F401 - the fixture

test_livekit = tests_for(livekit.suite)
