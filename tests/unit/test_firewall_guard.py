"""The firewall role refuses a ruleset that would lock the run out of its SSH port.

The assertions run on the controller, so unreachable documentation addresses serve as
hosts: nothing is contacted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SSH22 = [{"port": 22, "proto": "tcp", "from": "any"}]

# host: (inventory variables, whether the guard must refuse)
CASES = {
    "no_rules": ({}, True),  # the baseline never ran: nothing publishes SSH
    "ssh_open": ({"firewall_role_ports": SSH22}, False),
    "in_range": ({"firewall_ports": [{"port": "20-30", "proto": "tcp"}]}, False),
    "udp_only": ({"firewall_ports": [{"port": 22, "proto": "udp"}]}, True),
    "other_port": ({"ansible_port": 2222, "firewall_role_ports": SSH22}, True),
    "guard_off": ({"firewall_ssh_guard": False}, False),
    "podman": ({"ansible_connection": "podman"}, False),
}


def test_ruleset_without_the_ssh_port_is_refused(tmp_path):
    inventory = tmp_path / "hosts.json"
    inventory.write_text(json.dumps({"all": {"hosts": {
        name: {"ansible_host": "192.0.2.1", **hostvars}
        for name, (hostvars, _) in CASES.items()}}}))
    playbook = tmp_path / "guard.yml"
    playbook.write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.include_role:\n        name: firewall\n"
        "        tasks_from: assert\n")
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
           "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
           "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}
    bindir = Path(sys.executable).parent
    run = subprocess.run([str(bindir / "ansible-playbook"), "-i", str(inventory), str(playbook)],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    result = json.loads(run.stdout)
    failed = {host for host, stats in result["stats"].items() if stats["failures"]}
    assert failed == {name for name, (_, refused) in CASES.items() if refused}, run.stdout[-3000:]
    assert not any(stats["unreachable"] for stats in result["stats"].values())
    messages = {host: res.get("msg", "")
                for play in result["plays"] for task in play["tasks"]
                for host, res in task["hosts"].items() if res.get("failed")}
    assert "would not open TCP port 22," in messages["no_rules"]
    assert "playbooks/common.yml" in messages["no_rules"]
    assert "would not open TCP port 2222," in messages["other_port"]


def _filters():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "firewall_filters", ROOT / "roles" / "firewall" / "filter_plugins" / "firewall.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SS = [  # `ss -Hlntup` on an edge host
    'tcp   LISTEN 0 511  0.0.0.0:443    0.0.0.0:* users:(("nginx",pid=812,fd=7))',
    'tcp   LISTEN 0 511     [::]:443       [::]:* users:(("nginx",pid=812,fd=8))',
    'tcp   LISTEN 0 128  0.0.0.0:22     0.0.0.0:* users:(("sshd",pid=90,fd=3))',
    'tcp   LISTEN 0 50 127.0.0.1:8080   0.0.0.0:* users:(("java",pid=400,fd=30))',
    'tcp   LISTEN 0 50     [::1]:9000      [::]:* users:(("java",pid=400,fd=31))',
    'udp   UNCONN 0 0  10.0.0.5:3478    0.0.0.0:* users:(("turnserver",pid=77,fd=20))',
    'udp   UNCONN 0 0  127.0.0.53%lo:53 0.0.0.0:* users:(("resolved",pid=5,fd=1))',
]
LIVE = [{"port": 22, "proto": "tcp", "from": "any"}, {"port": 443, "proto": "tcp", "from": "any"},
        {"port": 3478, "proto": "udp", "from": "any"}, {"port": "8000-8100", "proto": "tcp",
                                                         "from": "any"}]


def test_the_guard_sees_only_public_listeners():
    listening = _filters().firewall_listening(SS)
    assert {(s["proto"], s["port"], s["process"]) for s in listening} == {
        ("tcp", 443, "nginx"), ("tcp", 22, "sshd"), ("udp", 3478, "turnserver")}


def test_a_ruleset_that_shuts_a_listening_port_is_named_once():
    f = _filters()
    listening = f.firewall_listening(SS)
    closing = f.firewall_closing(listening, LIVE, [{"port": 22, "proto": "tcp"}])
    assert [(s["port"], s["proto"], s["process"]) for s in closing] == [
        (443, "tcp", "nginx"), (3478, "udp", "turnserver")]


def test_the_same_ruleset_a_first_load_or_a_removal_on_purpose_passes():
    f = _filters()
    listening = f.firewall_listening(SS)
    assert f.firewall_closing(listening, LIVE, LIVE) == []
    assert f.firewall_closing(listening, [], [{"port": 22, "proto": "tcp"}]) == []  # first load
    assert f.firewall_closing(listening, LIVE, [{"port": 22}, {"port": "440-450"},
                                                {"port": 3478, "proto": "udp"}]) == []
    assert f.firewall_closing(listening, LIVE, [{"port": 22}],
                              ["443/tcp", "3478/udp"]) == []
    # A port the live ruleset did not open (a loopback-only service bound widely) is no concern.
    assert f.firewall_closing(listening, [{"port": 22}], [{"port": 22}]) == []
