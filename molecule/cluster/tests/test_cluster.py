"""The cluster scenario runs sovctl's cluster probes across the Keycloak, LiveKit and
coturn nodes."""

from sovctl.probes import cluster
from sovctl.probes.pytest_adapter import probe_run, tests_for  # noqa: F401 - the fixture

test_cluster = tests_for(cluster.suite)
