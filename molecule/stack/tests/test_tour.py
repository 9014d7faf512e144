"""The README's five-minute tour, run exactly as written on the sandbox this scenario built.

The tour's commands are read from README.md (its first ``sh`` block under "A five-minute
tour") and each one runs in bash from the checkout after the tour's own `. .venv/bin/activate`.
Only the sandbox's lifecycle is the scenario's: its first line (`make sandbox`) is what
create and converge did, its last (`make sandbox-down`) is what destroy does. Every other
line must succeed, and its output must say what the tour promises:
- `sovctl sandbox status` prints the meeting app's URL first;
- `sovctl verify` runs every service's probes, each PASS (this is the stack's run of
  the service checks: the meeting app's three-browser flow, OIDC logins, LiveKit media,
  TURN relays, Collabora, nmap and testssl.sh from the scanner);
- `sovctl deploy --check --diff` finds nothing to change on the converged sandbox;
- the live audit and the HTML report produce what they say.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
LIFECYCLE = ("make sandbox", "make sandbox-down")
SERVICES = ("meet", "keycloak", "livekit", "redis", "coturn", "collabora", "hardening",
            "monitoring")


def tour_commands() -> list[str]:
    """The tour's commands, comments and blank lines left out, in order."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## A five-minute tour", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    commands = []
    for line in block.splitlines():
        command = line.split(" #", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if command:
            commands.append(command)
    return commands


@pytest.fixture(scope="module")
def tour():
    commands = tour_commands()
    assert (commands[0], commands[-1]) == LIFECYCLE, commands
    assert commands[1] == ". .venv/bin/activate", commands
    results = {}
    for command in commands[2:-1]:
        proc = subprocess.run(["bash", "-c", f". .venv/bin/activate && {command}"], cwd=ROOT,
                              capture_output=True, text=True, timeout=1800)
        results[command] = proc
        print(f"$ {command}  -> exit {proc.returncode}")
    yield results
    (ROOT / "residency.html").unlink(missing_ok=True)


def _run(tour, prefix: str) -> subprocess.CompletedProcess:
    matches = [c for c in tour if c.startswith(prefix)]
    assert matches, f"the README's tour no longer runs {prefix!r}"
    return tour[matches[0]]


def _output(proc: subprocess.CompletedProcess) -> str:
    return (proc.stdout + proc.stderr)[-8000:]


def test_every_tour_command_succeeds(tour):
    failed = {c: (p.returncode, _output(p)[-1500:]) for c, p in tour.items()
              if p.returncode != 0}
    assert failed == {}, failed


def test_sandbox_status_starts_with_the_meeting_app(tour):
    proc = _run(tour, "sovctl sandbox status")
    assert proc.stdout.splitlines()[0] == "Meeting app: https://10.231.47.15", proc.stdout


def test_verify_passes_every_service(tour):
    proc = _run(tour, "sovctl verify")
    rows = re.findall(r"^(\S+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(PASS|FAIL|\S+)\s*$",
                      proc.stdout, re.M)
    verdicts = {(host, service): verdict for host, service, _, _, _, verdict in rows}
    assert {service for _, service in verdicts} >= set(SERVICES), _output(proc)
    assert set(verdicts.values()) == {"PASS"}, _output(proc)
    assert proc.returncode == 0, _output(proc)


def test_the_dry_run_changes_nothing(tour):
    proc = _run(tour, "sovctl deploy --check")
    recap = proc.stdout.split("RECAP", 1)[-1]
    changed = re.findall(r"^\s*(\S+)\s.*?changed=(\d+)", recap, re.M)
    assert changed and all(n == "0" for _, n in changed), _output(proc)


def test_the_live_audit_and_the_html_report(tour):
    live = _run(tour, "sovctl audit --live")
    assert "sandbox-meet" in live.stdout, _output(live)
    html = (ROOT / "residency.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "sandbox-edge" in html
    # Opens without a network: nothing loaded from elsewhere.
    assert not re.search(r"<(script|link|img)\b[^>]*\b(src|href)=\"https?://", html)
