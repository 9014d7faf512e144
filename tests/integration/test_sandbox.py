"""The operator's path, for real: sandbox up, deploy (interrupted, then re-run), verify.

Uses the sandbox inventory and its podman hosts, limited to the TURN host and its
service (the whole stack on the sandbox is molecule's `stack` scenario); removes
the hosts at the end.
"""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.integration

SOVCTL = [sys.executable, "-m", "sovctl"]
# One service on one host: enough to interrupt, re-run and verify in a few minutes.
ONE = ("--service", "coturn", "--limit", "sandbox-turn")


def run(*args, timeout=900):
    return subprocess.run([*SOVCTL, *args], capture_output=True, text=True, timeout=timeout)


def changed_total(output: str) -> int:
    return sum(int(n) for n in re.findall(r"changed=(\d+)", output.split("RECAP", 1)[-1]))


@pytest.fixture(scope="module")
def sandbox():
    assert run("sandbox", "down").returncode == 0
    up = run("sandbox", "up")
    assert up.returncode == 0, up.stdout + up.stderr
    yield
    run("sandbox", "down")


def test_interrupted_deploy_reruns_cleanly_and_verifies(sandbox):
    proc = subprocess.Popen([*SOVCTL, "deploy", *ONE], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen = []
    deadline = time.monotonic() + 600
    for line in proc.stdout:
        seen.append(line)
        if "coturn : Install the coturn package" in line or time.monotonic() > deadline:
            proc.send_signal(signal.SIGINT)
            break
    rest, _ = proc.communicate(timeout=300)
    out = "".join(seen) + rest
    assert proc.returncode == 130, out
    assert "Re-run the same command" in out
    # Nothing of the cancelled run is left running (Mitogen's multiplexer included).
    for _ in range(20):
        left = subprocess.run(["pgrep", "-af", "--limit sandbox-turn .*sovctl-run-"],
                              capture_output=True, text=True).stdout
        if not left:
            break
        time.sleep(0.5)
    assert left == "", left
    # Nor on the host: Mitogen's interpreter (it names itself `mitogen:...`) and any
    # module of the run end with the controller's connection.
    on_host = host_processes_of_a_run()
    for _ in range(60):
        if not on_host:
            break
        time.sleep(0.5)
        on_host = host_processes_of_a_run()
    assert on_host == [], on_host

    second = run("deploy", *ONE)
    assert second.returncode == 0, second.stdout[-3000:]
    assert changed_total(second.stdout) > 0  # it finished what the interruption left

    third = run("deploy", *ONE)
    assert third.returncode == 0, third.stdout[-3000:]
    assert changed_total(third.stdout) == 0, third.stdout[-3000:]

    status = run("sandbox", "status")
    assert "turns:127.0.0.1:5349" in status.stdout
    assert "TURN test credentials" in status.stdout

    listening = coturn_listening()
    verify = run("verify", "--service", "coturn")
    assert verify.returncode == 0, verify.stdout[-5000:] + "\n" + diagnostics(listening)
    assert re.search(r"sandbox-turn\s+coturn\s+\d+\s+0\s", verify.stdout), verify.stdout


def test_rerun_applies_what_a_cut_short_run_wrote(sandbox):
    """The window the interruption above may or may not hit, made certain: a run wrote
    coturn's configuration and the firewall's rules and was cut short before its
    handlers ran. The files are the role's own, so a re-run changes none of them; it
    must still restart coturn and load the rules (roles/stale_config)."""
    pid = podman("exec", "sandbox-turn", "systemctl", "show", "-P", "MainPID", "coturn").strip()
    assert pid not in ("", "0"), pid
    podman("exec", "sandbox-turn", "touch", "/etc/turnserver.conf")
    podman("exec", "sandbox-turn", "nft", "flush", "ruleset")
    podman("exec", "sandbox-turn", "touch", "/etc/nftables.conf")

    rerun = run("deploy", *ONE)
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    after = podman("exec", "sandbox-turn", "systemctl", "show", "-P", "MainPID", "coturn").strip()
    assert after not in ("", "0", pid), f"coturn was not restarted (MainPID {pid} -> {after})"
    assert "tcp dport 5349 accept" in podman("exec", "sandbox-turn", "nft", "list", "ruleset")

    again = run("deploy", *ONE)
    assert again.returncode == 0, again.stdout[-3000:]
    assert changed_total(again.stdout) == 0, again.stdout[-3000:]


def test_rerun_finishes_a_package_install_cut_short(sandbox):
    """A run killed while dpkg installed coturn: dpkg's journal says coturn is unpacked
    but not configured, as dpkg writes it between the two steps, and apt refuses every
    install until `dpkg --configure -a`. The re-run must finish that itself."""
    first = run("deploy", *ONE)  # converged already when the tests above ran
    assert first.returncode == 0, first.stdout[-3000:]
    entry = podman("exec", "sandbox-turn", "dpkg-query", "-s", "coturn")
    assert "Status: install ok installed" in entry, entry
    journal = entry.replace("Status: install ok installed", "Status: install ok unpacked")
    cut = subprocess.run(["podman", "exec", "-i", "sandbox-turn", "sh", "-c",
                          "cat > /var/lib/dpkg/updates/0000"], input=journal, text=True)
    assert cut.returncode == 0
    refused = podman("exec", "sandbox-turn", "apt-get", "install", "-y", "coturn")
    assert "dpkg was interrupted" in refused, refused  # what the operator would meet

    rerun = run("deploy", *ONE)
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert "Finish the interrupted package run" in rerun.stdout
    status = podman("exec", "sandbox-turn", "dpkg-query", "-W", "-f=${Status}", "coturn")
    assert status == "install ok installed", status
    assert podman("exec", "sandbox-turn", "dpkg", "--audit") == ""
    assert "dpkg was interrupted" not in podman(
        "exec", "sandbox-turn", "apt-get", "install", "-y", "coturn")

    again = run("deploy", *ONE)
    assert again.returncode == 0, again.stdout[-3000:]
    assert changed_total(again.stdout) == 0, again.stdout[-3000:]


def podman(*args: str) -> str:
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, env=dict(os.environ))
    return proc.stdout + proc.stderr


def host_processes_of_a_run(host: str = "sandbox-turn") -> list[str]:
    """Processes on ``host`` that belong to an Ansible run: Mitogen's interpreter and
    children (`mitogen:` in their name), an Ansible module (AnsiballZ) or its temp dir."""
    out = podman("exec", host, "ps", "-eo", "pid,ppid,args", "--no-headers")
    return [line.strip() for line in out.splitlines()
            if re.search(r"mitogen|AnsiballZ|ansible-tmp|\.ansible/tmp", line)
            and "ps -eo" not in line]


def coturn_listening(seconds: float = 60) -> bool:
    """Whether coturn listens on TCP 3478 on the TURN host (waits up to ``seconds``: a
    handler may have restarted it at the end of the run)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ":3478" in podman("exec", "sandbox-turn", "ss", "-Hltn", "sport", "=", ":3478"):
            return True
        time.sleep(2)
    return False


def diagnostics(listening: bool) -> str:
    """What the TURN host and this machine say, for a failure report."""
    return "\n".join([
        f"coturn listening on TCP 3478 before verify: {listening}",
        podman("exec", "sandbox-turn", "systemctl", "status", "--no-pager", "coturn"),
        podman("exec", "sandbox-turn", "ss", "-Hltnp"),
        podman("exec", "sandbox-turn", "nft", "list", "ruleset"),
        podman("exec", "sandbox-turn", "ls", "-l", "/etc/turnserver.conf", "/etc/coturn/tls"),
        podman("exec", "sandbox-turn", "journalctl", "-b", "--no-pager", "-u", "coturn",
               "--grep", "cert|key|TLS|DTLS|listen|Relay|ERROR|WARN|Start|Stop"),
        subprocess.run(["ip", "route", "get", "10.231.47.13"], capture_output=True,
                       text=True).stdout,
    ])


def test_published_ports_listen_on_loopback_only(sandbox):
    out = subprocess.run(["podman", "port", "sandbox-turn"], capture_output=True, text=True,
                         env=dict(os.environ)).stdout
    assert out.strip(), "no published ports"
    for line in out.strip().splitlines():
        assert "-> 127.0.0.1:" in line, line
