"""Synthetic probes: what users do, done continuously from the monitoring host.

Run by the monitoring role as the ``sovctl-synthetic`` service on each monitoring host:
``python3 -m sovctl.probes.synthetic /etc/sovctl-synthetic/targets.json``. Every
``interval`` seconds it runs, one after the other (never two at once, never faster than
the interval), the probes below against the targets the role derived from the inventory,
and serves the latest results to the local Prometheus on loopback:

- ``identity/oidc_login``: a user logs in through Keycloak's login page (authorization
  code with PKCE, the library's :func:`sovctl.probes.keycloak.login`) and the ID token
  verifies against the realm's keys;
- ``turn/allocation``: a UDP allocation with TURN REST credentials from the site's shared
  secret succeeds (:func:`sovctl.probes.turnclient.allocate`), and is released at once;
- ``conferencing/join_token``: LiveKit's signalling endpoint accepts a join token signed
  with the deployment's key (``/rtc/validate``);
- ``meet/health``: the meeting app answers its health page through the TLS edge.

Metrics: ``sovctl_synthetic_success`` (1 passed, 0 failed), ``sovctl_synthetic_duration_seconds``
per service, probe and target, and ``sovctl_synthetic_last_run_timestamp_seconds``. The
alert rules (roles/monitoring/files/rules/sovctl.yml) fire on a probe failing twice in a
row and on results that stopped coming. A failure's evidence goes to the journal.

The targets file holds secrets (the probe user's password, the TURN secret, LiveKit's key):
the role writes it readable by root and this service's group only.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sovctl.probes import Failed, Skipped, expect

log = logging.getLogger("sovctl.synthetic")

# A probe's own network timeouts; a probe that hangs longer than this is cut off as failed.
PROBE_TIMEOUT = 30.0
MIN_INTERVAL = 30


@dataclass(frozen=True)
class Outcome:
    service: str
    probe: str
    target: str
    ok: bool
    seconds: float
    evidence: str


def oidc_login(t: dict) -> str:
    from sovctl.probes.keycloak import login, verified_claims

    kc = {"issuer": t["issuer"], "verify": t["ca"], "client_id": t["client_id"],
          "redirect_uri": t["redirect_uri"]}
    token, error = login(kc, t["username"], t["password"])
    expect(token, f"{t['username']} could not log in: {error}")
    claims = verified_claims(kc, token)
    expect(claims.get("preferred_username") == t["username"],
           f"the ID token names {claims.get('preferred_username')!r}")
    return f"{t['username']} logged in; the ID token verifies ({t['issuer']})"


def turn_allocation(t: dict) -> str:
    from sovctl.probes.turnclient import allocate, rest_credentials

    user, password = rest_credentials(t["secret"], user="sovctl-synthetic", ttl=300)
    code, reason = allocate(t["address"], int(t["port"]), user, password, timeout=5.0)
    expect(code == 200, f"allocation on {t['address']}:{t['port']}: {code} {reason}")
    return f"allocation on {t['address']}:{t['port']}: 200"


def livekit_join_token(t: dict) -> str:
    import jwt
    import requests

    now = int(time.time())
    claims = {"iss": t["key"], "sub": "sovctl-synthetic", "nbf": now - 5, "exp": now + 120,
              "video": {"roomJoin": True, "room": "sovctl-synthetic"}}
    token = jwt.encode(claims, t["secret"], algorithm="HS256")
    resp = requests.get(f"{t['url']}/rtc/validate", params={"access_token": token},
                        verify=t["ca"], timeout=10)
    expect(resp.status_code == 200, f"/rtc/validate answered {resp.status_code}: "
                                    f"{resp.text[:200]}")
    return f"{t['url']}/rtc/validate: 200"


def meet_health(t: dict) -> str:
    import requests

    resp = requests.get(f"{t['url']}/healthz", verify=t["ca"], timeout=10)
    expect(resp.status_code == 200, f"{t['url']}/healthz answered {resp.status_code}: "
                                    f"{resp.text[:200]}")
    return f"{t['url']}/healthz: 200"


# (service, probe, the targets file's key, the function)
PROBES: tuple[tuple[str, str, str, Callable[[dict], str]], ...] = (
    ("identity", "oidc_login", "login", oidc_login),
    ("turn", "allocation", "turn", turn_allocation),
    ("conferencing", "join_token", "livekit", livekit_join_token),
    ("meet", "health", "meet", meet_health),
)


def _run_one(func: Callable[[dict], str], target: dict) -> tuple[bool, str]:
    """The probe in a thread of its own, cut off after PROBE_TIMEOUT."""
    box: dict = {}

    def work() -> None:
        try:
            box["evidence"] = func(target)
            box["ok"] = True
        except (Failed, Skipped) as exc:
            box["ok"], box["evidence"] = False, str(exc)
        except Exception as exc:  # noqa: BLE001 - any error is the probe's failure
            box["ok"], box["evidence"] = False, f"{type(exc).__name__}: {exc}"

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(PROBE_TIMEOUT)
    if thread.is_alive():
        return False, f"no answer within {PROBE_TIMEOUT:.0f} s"
    return box["ok"], box["evidence"]


def run_once(config: dict) -> list[Outcome]:
    outcomes = []
    for service, probe, key, func in PROBES:
        for target in config.get(key) or []:
            target = {"ca": config.get("ca", True), **target}
            start = time.monotonic()
            ok, evidence = _run_one(func, target)
            outcome = Outcome(service, probe, target["name"], ok, time.monotonic() - start,
                              evidence)
            (log.info if ok else log.warning)(
                "%s %s/%s %s: %s", "PASSED" if ok else "FAILED", service, probe,
                target["name"], evidence)
            outcomes.append(outcome)
    return outcomes


class Collector:
    """The latest run's results, as Prometheus reads them."""

    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []
        self.finished: float | None = None

    def collect(self) -> Iterator:
        from prometheus_client.core import GaugeMetricFamily

        labels = ["service", "probe", "target"]
        success = GaugeMetricFamily("sovctl_synthetic_success",
                                    "1 when the synthetic probe passed, 0 when it failed",
                                    labels=labels)
        duration = GaugeMetricFamily("sovctl_synthetic_duration_seconds",
                                     "How long the synthetic probe took", labels=labels)
        for o in self.outcomes:
            success.add_metric([o.service, o.probe, o.target], 1 if o.ok else 0)
            duration.add_metric([o.service, o.probe, o.target], round(o.seconds, 3))
        yield success
        yield duration
        if self.finished is not None:
            yield GaugeMetricFamily("sovctl_synthetic_last_run_timestamp_seconds",
                                    "When the last run of the synthetic probes finished",
                                    value=self.finished)


def load(path: Path) -> dict:
    config = json.loads(path.read_text())
    expect(isinstance(config, dict), f"{path}: not a JSON object")
    for _service, _probe, key, _func in PROBES:
        for target in config.get(key) or []:
            expect(isinstance(target, dict) and target.get("name"),
                   f"{path}: every entry of {key!r} needs a name")
    return config


def main(argv: list[str] | None = None) -> int:
    from prometheus_client import start_http_server
    from prometheus_client.core import REGISTRY

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python3 -m sovctl.probes.synthetic TARGETS.json", file=sys.stderr)
        return 64
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        config = load(Path(args[0]))
    except (OSError, ValueError, Failed) as exc:
        print(f"sovctl-synthetic: {exc}", file=sys.stderr)
        return 78
    interval = max(MIN_INTERVAL, int(config.get("interval", 60)))
    collector = Collector()
    REGISTRY.register(collector)
    listen = config.get("listen", "127.0.0.1:9105")
    address, _, port = listen.rpartition(":")
    start_http_server(int(port), addr=address)
    log.info("serving the synthetic probes' results on %s, a run every %d s", listen, interval)
    while True:
        started = time.monotonic()
        collector.outcomes = run_once(config)
        collector.finished = time.time()
        time.sleep(max(1.0, interval - (time.monotonic() - started)))


if __name__ == "__main__":
    sys.exit(main())
