"""Probe results as Prometheus metrics, for node_exporter's textfile collector.

`sovctl verify --metrics FILE` writes, per probe, host and service:

- ``sovctl_probe_success``: 1 when the probe passed, 0 when it failed; a skipped probe has
  no sample here, so that a probe that checked nothing is never counted as up;
- ``sovctl_probe_skipped``: 1 when the probe could check nothing;
- ``sovctl_probe_duration_seconds``: how long it took;

and ``sovctl_verify_last_run_timestamp_seconds``, when the run finished, so that an alert can
tell a run that stopped happening from one that passes. The file is written by
prometheus_client, replaced atomically (a scrape never reads half a file).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from sovctl.probes import Result

LABELS = ("host", "service", "probe")


def write_textfile(path: Path, results: Iterable[Result], now: float | None = None) -> None:
    from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

    registry = CollectorRegistry()
    success = Gauge("sovctl_probe_success",
                    "1 when the probe passed, 0 when it failed (skipped probes: no sample)",
                    LABELS, registry=registry)
    skipped = Gauge("sovctl_probe_skipped", "1 when the probe could check nothing",
                    LABELS, registry=registry)
    duration = Gauge("sovctl_probe_duration_seconds", "How long the probe took",
                     LABELS, registry=registry)
    last = Gauge("sovctl_verify_last_run_timestamp_seconds",
                 "When the run of probes that wrote this file finished", registry=registry)
    for result in results:
        labels = (result.host, result.service, result.probe)
        if result.outcome == "skipped":
            skipped.labels(*labels).set(1)
        else:
            success.labels(*labels).set(1 if result.outcome == "passed" else 0)
        duration.labels(*labels).set(round(result.seconds, 3))
    last.set(time.time() if now is None else now)
    write_to_textfile(str(path), registry)
