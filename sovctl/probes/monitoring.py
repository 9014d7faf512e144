"""Monitoring, probed on its host: Prometheus and Alertmanager up on loopback only, every
host's node exporter scraped and up, sovctl's alert rules loaded."""

from __future__ import annotations

import json
import time

from sovctl.probes import Run, Suite, context, expect, synthetic

suite = Suite("monitoring", "monitoring", doc=__doc__)

# Seconds a freshly started Prometheus may take to scrape every target once.
TARGETS_WAIT = 60


@suite.subject
def monitoring(run: Run, name: str) -> dict:
    inv_host = context.inventory().hosts[name]
    return {"name": name, "host": context.testinfra_host(name),
            "prometheus": int(inv_host.vars.get("monitoring_prometheus_port", 9090)),
            "alertmanager": int(inv_host.vars.get("monitoring_alertmanager_port", 9093))}


def api(mon: dict, port: int, path: str):
    """A JSON answer of a loopback API on the monitoring host (asked from the host)."""
    out = mon["host"].run(
        "python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen("
        "sys.argv[1], timeout=10).read().decode())' %s", f"http://127.0.0.1:{port}{path}")
    expect(out.rc == 0, f"{path} on {mon['name']}:{port} did not answer: {out.stderr[-500:]}")
    return json.loads(out.stdout)


@suite.probe
def prometheus_and_alertmanager_listen_on_loopback_only(mon) -> str:
    host = mon["host"]
    for unit in ("prometheus", "prometheus-alertmanager", "sovctl-alert-log"):
        expect(host.service(unit).is_running and host.service(unit).is_enabled,
               f"{unit} is not both running and enabled on {mon['name']}")
    listening = host.check_output("ss -Hltnp")
    theirs = [line for line in listening.splitlines()
              if any(p in line for p in ('"prometheus"', '"prometheus-aler"', '"python3"'))]
    expect(theirs, f"no listener of Prometheus or Alertmanager:\n{listening}")
    public = [line for line in theirs if "127.0.0.1:" not in line.split()[3]]
    expect(not public, "listening beyond loopback:\n" + "\n".join(public))
    return "prometheus, alertmanager and the alert log running, on 127.0.0.1 only"


@suite.probe
def every_node_exporter_is_scraped_and_up(mon) -> str:
    expected = set(context.inventory().hosts)
    deadline = time.monotonic() + TARGETS_WAIT
    while True:
        targets = api(mon, mon["prometheus"], "/api/v1/targets")["data"]["activeTargets"]
        nodes = {t["labels"].get("instance"): t for t in targets if t["labels"]["job"] == "node"}
        down = {i: f"{t['health']} {t.get('lastError', '')}".strip() for i, t in nodes.items()
                if t["health"] != "up"}
        if (not down and set(nodes) == expected) or time.monotonic() > deadline:
            break
        time.sleep(5)
    expect(set(nodes) == expected,
           f"node targets {sorted(nodes)}, inventory hosts {sorted(expected)}")
    expect(not down, f"node exporters not up: {down}")
    others = [t for t in targets if t["labels"]["job"] != "node" and t["health"] != "up"]
    expect(not others, f"targets not up: {[(t['labels'], t.get('lastError')) for t in others]}")
    return f"{len(targets)} targets up, a node exporter for each of the {len(expected)} hosts"


@suite.probe
def the_alert_rules_are_loaded(mon) -> str:
    groups = api(mon, mon["prometheus"], "/api/v1/rules")["data"]["groups"]
    alerts = sorted(r["name"] for g in groups for r in g["rules"] if r["type"] == "alerting")
    expect("SovctlServiceDown" in alerts and "SovctlScrapeTargetDown" in alerts,
           f"alerting rules loaded: {alerts}")
    unhealthy = [r["name"] for g in groups for r in g["rules"] if r.get("health") == "err"]
    expect(not unhealthy, f"rules that fail to evaluate: {unhealthy}")
    return f"{len(alerts)} alerting rules loaded: {', '.join(alerts)}"


@suite.probe
def alertmanager_is_ready_with_the_alert_log(mon) -> str:
    status = api(mon, mon["alertmanager"], "/api/v2/status")
    config = status.get("config", {}).get("original", "")
    expect("sovctl" in config,
           f"Alertmanager's loaded configuration has no sovctl route:\n{config}")
    cluster = status.get("cluster", {}).get("status")
    expect(cluster in (None, "disabled"), f"Alertmanager's cluster is {cluster}, not disabled")
    return "Alertmanager ready, sovctl's route loaded, no cluster port"


# Seconds a freshly started sovctl-synthetic takes to finish a first run and be scraped.
SYNTHETIC_WAIT = 150


@suite.probe
def the_synthetic_probes_run_and_pass(mon) -> str:
    """The probes users' actions are watched with (a login, a TURN allocation, a LiveKit join
    token, the meeting app) run from this host, each of them passes, and Prometheus scrapes
    them. Read from the service itself: its last run, not a series Prometheus still holds."""
    from prometheus_client.parser import text_string_to_metric_families

    host = mon["host"]
    expect(host.service("sovctl-synthetic").is_running,
           f"sovctl-synthetic is not running on {mon['name']}")
    port = int(context.inventory().hosts[mon["name"]].vars.get("monitoring_synthetic_port", 9105))
    # Each synthetic probe's service is the inventory group it probes (synthetic.PROBES).
    wanted = {(service, probe) for service, probe, _key, _func in synthetic.PROBES
              if context.hosts(service)}
    deadline = time.monotonic() + SYNTHETIC_WAIT
    while True:
        text = host.run("python3 -c 'import sys, urllib.request; sys.stdout.write("
                        "urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' %s",
                        f"http://127.0.0.1:{port}/metrics").stdout
        seen = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "sovctl_synthetic_success":
                    labels = sample.labels
                    seen.setdefault((labels["service"], labels["probe"]), []).append(
                        (labels["target"], sample.value))
        failing = {k: v for k, v in seen.items() if any(ok != 1.0 for _t, ok in v)}
        if (wanted <= set(seen) and not failing) or time.monotonic() > deadline:
            break
        time.sleep(10)
    if failing or not wanted <= set(seen):
        log = host.run("journalctl -u sovctl-synthetic -n 20 -o cat --no-pager").stdout
        expect(wanted <= set(seen), f"synthetic probes run: {sorted(seen)}, expected "
                                    f"{sorted(wanted)}; the probes' journal:\n{log}")
        expect(False, f"failing: {failing}; the probes' journal:\n{log}")
    scraped = api(mon, mon["prometheus"], "/api/v1/targets")["data"]["activeTargets"]
    expect(any(t["labels"]["job"] == "synthetic" and t["health"] == "up" for t in scraped),
           "Prometheus does not scrape the synthetic probes (job synthetic) successfully")
    return ", ".join(f"{s}/{p} on {', '.join(t for t, _ok in v)}: passing"
                     for (s, p), v in sorted(seen.items()))


@suite.probe
def the_console_shows_the_stack(mon) -> str:
    """sovctl's console, rendered by Prometheus from its data: every host's units, the
    synthetic probes and the firing alerts, with no script loaded from anywhere."""
    out = mon["host"].run(
        "python3 -c 'import sys, urllib.request; r = urllib.request.urlopen(sys.argv[1], "
        "timeout=20); sys.stdout.write(str(r.status) + chr(10) + r.read().decode())' %s",
        f"http://127.0.0.1:{mon['prometheus']}/consoles/sovctl.html")
    expect(out.rc == 0, f"/consoles/sovctl.html did not answer: {out.stderr[-500:]}")
    status, _, page = out.stdout.partition("\n")
    expect(status == "200", f"/consoles/sovctl.html answered {status}: {page[:300]}")
    expect("error executing template" not in page, page[-800:])
    expect("<script" not in page, "the console loads a script")
    missing = [h for h in context.inventory().hosts if f"<td>{h}</td>" not in page]
    expect(not missing, f"hosts missing from the console: {missing}")
    units = page.count("<td>active</td>")
    expect(units > 0, "no active unit in the console")
    probes = page.count("<td>passing</td>")
    return (f"/consoles/sovctl.html: {len(context.inventory().hosts)} hosts, {units} active "
            f"units, {probes} synthetic probes passing")
