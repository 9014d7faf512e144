"""Fault: a host lost in the middle of a deploy (issue 11).

Two TURN hosts of our own (podman test hosts on podman's default network, reached over
SSH as sovctl reaches real servers; not the sandbox). While ``sovctl deploy`` runs on
both, one host is frozen (``podman pause``: it stops answering, as after a network
partition). The deploy must name that host as unreachable, finish the other one, and
stop by itself; once the host is back, a re-run converges and a further run changes
nothing. The hosts are removed at the end whatever happens.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid

import pytest

from tests.helpers import write

pytestmark = pytest.mark.integration

SOVCTL = [sys.executable, "-m", "sovctl"]
PLAYBOOK = "playbooks/coturn.yml"  # tls + coturn: about a minute on a fresh host
RUN_TIMEOUT = 300  # a lost host must not hang the deploy: it stops by itself


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    from sovctl.sandbox import podman_env

    proc = subprocess.run(["podman", *args], capture_output=True, text=True, env=podman_env())
    if check and proc.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)}: {proc.stderr}")
    return proc


def recap_line(output: str, host: str) -> str:
    found = re.search(rf"^\s+{re.escape(host)}\s+ok=.*$", output.split("RECAP", 1)[-1], re.M)
    return found.group(0) if found else ""


def changed_total(output: str) -> int:
    return sum(int(n) for n in re.findall(r"changed=(\d+)", output.split("RECAP", 1)[-1]))


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """Two fresh test hosts in group turn and an inventory that reaches them over SSH."""
    from sovctl import hostimage, secrets
    from sovctl.sandbox import SandboxHost, authorize

    image = hostimage.build(log=lambda _msg: None)
    tag = uuid.uuid4().hex[:6]
    names = [f"sovctl-fault-{tag}-a", f"sovctl-fault-{tag}-b"]
    try:
        for name in names:
            podman("run", "-d", "--name", name, "--hostname", name, "--privileged",
                   "--systemd=always", "--label", "io.sovctl.fault=1", image, "/sbin/init")
        ips = {n: json.loads(podman("inspect", n, "--format", "json").stdout)[0]
               ["NetworkSettings"]["IPAddress"] for n in names}
        inv = write(tmp_path_factory.mktemp("fault") / "inv", {
            "hosts.yml": "all:\n  children:\n    turn:\n      hosts:\n" + "".join(
                f"        {n}:\n          ansible_host: {ip}\n" for n, ip in ips.items()),
            "group_vars/all/main.yml": """
                sov_domain: fault.test
                sov_provider: sandbox
                sov_region: local
                sov_country: FR
            """,
        })
        secrets.ensure(inv)
        authorize(inv, [SandboxHost(n, ["turn"], [], ip=ip) for n, ip in ips.items()])
        yield inv, names
    finally:
        for name in names:
            podman("rm", "-f", "-t", "0", name, check=False)


def deploy(inv, cwd, **popen):
    from sovctl.paths import project_root

    return subprocess.Popen([*SOVCTL, "deploy", "-i", str(inv),
                             "--playbook", str(project_root() / PLAYBOOK)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=cwd, **popen)


def finish(proc: subprocess.Popen, seen: list[str]) -> tuple[int, str]:
    """Wait (bounded) for the deploy; its exit code and whole output."""
    try:
        rest, _ = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        rest, _ = proc.communicate()
        pytest.fail("the deploy did not stop by itself:\n" + "".join(seen)[-3000:] + rest)
    return proc.returncode, "".join(seen) + rest


def test_host_lost_mid_deploy_is_named_others_finish_rerun_converges(fleet, tmp_path):
    inv, (kept, lost) = fleet
    started = time.monotonic()
    proc = deploy(inv, tmp_path)
    seen: list[str] = []
    # Freeze the host once the play has started on it (its facts gathered, tasks next).
    trigger = re.compile(rf"^\s+(ok|changed|done)\s+{re.escape(lost)}\s+tls : ")
    for line in proc.stdout:
        seen.append(line)
        if trigger.match(line):
            podman("pause", lost)
            break
        if time.monotonic() - started > RUN_TIMEOUT:
            break
    rc, out = finish(proc, seen)
    tail = out[-4000:]
    assert any(trigger.match(line) for line in seen), tail
    assert rc == 4, tail
    assert f"Unreachable: {lost}" in out, tail
    assert re.search(rf"^\s+unreachable\s+{re.escape(lost)}\s", out, re.M), tail
    # The other host went on to the end of the play.
    assert re.search(r"failed=0\s+unreachable=0", recap_line(out, kept)), tail
    assert re.search(rf"^\s+\w+\s+{re.escape(kept)}\s+coturn : Enable and start coturn",
                     out, re.M), tail

    # The host comes back: a re-run finishes it, the run after changes nothing.
    podman("unpause", lost)
    rc, second = finish(deploy(inv, tmp_path), [])
    assert rc == 0, second[-4000:]
    assert changed_total(second) > 0, second[-4000:]
    rc, third = finish(deploy(inv, tmp_path), [])
    assert rc == 0, third[-4000:]
    assert changed_total(third) == 0, third[-4000:]
