"""Reach a scenario's test hosts over SSH, as sovctl reaches real servers.

Run by the scenarios' dependency step (before `create`):

    python molecule/shared/ssh_access.py SCENARIO_DIR

For every platform of SCENARIO_DIR/molecule.yml that has a fixed ``ip`` on the podman
bridge it writes SCENARIO_DIR/host_vars/<name>.yml (linked into molecule's inventory,
where it outranks the podman driver's connection) so that Ansible and testinfra reach
the host by SSH: root, the scenario's own key (SCENARIO_DIR/.sovctl-ssh/id_ed25519,
generated once, never committed) and a known_hosts file emptied here, because the hosts
are created anew. The platform mounts .sovctl-ssh/authorized_keys read-only as root's
authorized_keys, so the host accepts the key from its first boot.

Why: podman's connection plugin cannot pipeline and runs three to four `podman exec`
per task; SSH with pipelining over one ControlPersist connection runs the same task in
about a third of the time here (measured: 20 module runs, 31 s through podman, 11 s
over SSH), and it is the path sovctl takes in production.

Platforms without ``ip`` are left to the podman connection.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

HOST_VARS = """\
---
# Written by molecule/shared/ssh_access.py (dependency step): reach this test host
# over SSH like a real server. Regenerated on every run; not committed.
ansible_connection: ssh
ansible_host: {ip}
ansible_user: root
ansible_ssh_private_key_file: {key}
ansible_ssh_common_args: >-
  -o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=accept-new
  -o ConnectTimeout=10
# sshd starts a few seconds after the container: retry refused connections.
ansible_ssh_retries: 5
"""


def main(scenario_dir: str) -> int:
    scenario = Path(scenario_dir).resolve()
    config = yaml.safe_load((scenario / "molecule.yml").read_text()) or {}
    platforms = [p for p in config.get("platforms", []) if p.get("ip")]

    ssh_dir = scenario / ".sovctl-ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    key = ssh_dir / "id_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                        f"sovctl-molecule-{scenario.name}", "-f", str(key)], check=True)
    authorized = ssh_dir / "authorized_keys"
    authorized.write_text(key.with_suffix(".pub").read_text())
    authorized.chmod(0o644)
    known_hosts = ssh_dir / "known_hosts"
    known_hosts.write_text("")

    host_vars = scenario / "host_vars"
    host_vars.mkdir(exist_ok=True)
    wanted = {f"{p['name']}.yml" for p in platforms}
    for stale in host_vars.glob("*.yml"):
        if stale.name not in wanted:
            stale.unlink()
    for platform in platforms:
        (host_vars / f"{platform['name']}.yml").write_text(HOST_VARS.format(
            ip=platform["ip"], key=key, known_hosts=known_hosts))
    print(f"{scenario.name}: {len(platforms)} test host(s) reached over SSH "
          f"({', '.join(p['name'] for p in platforms) or 'none'})")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
