"""The cluster scenario: checks across the Keycloak, LiveKit and coturn nodes."""

from sovctl.checks.cluster import *  # noqa: F403
