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
