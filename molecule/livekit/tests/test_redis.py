"""The livekit scenario runs sovctl's Redis probes (also run by `sovctl verify`)."""

from sovctl.probes import redis
from sovctl.probes.pytest_adapter import probe_run, tests_for  # noqa: F401 - the fixture

test_redis = tests_for(redis.suite)
