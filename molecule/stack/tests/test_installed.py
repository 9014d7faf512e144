"""sovctl as an operator installs it, against the sandbox this scenario built.

The wheel is built from this checkout and installed with its `verify` extra into a fresh
virtualenv outside the checkout (dependencies from the package index, as `pipx install
'sovctl[verify]'` gets them). From a directory outside the checkout, its `sovctl` then
creates an inventory (`init`), checks it offline and audits it; and against the sandbox
(`-i` its inventory) finds nothing to change with
`deploy --check --fail-on-change` and runs every probe of `verify`, each service PASS, its
results also written as Prometheus metrics (`--metrics`).
The virtualenv is never activated: its sovctl finds its own Ansible.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
from tests.helpers import build_wheel  # noqa: E402

SANDBOX = ROOT / "inventories" / "sandbox"
SERVICES = ("meet", "keycloak", "livekit", "redis", "coturn", "collabora", "hardening",
            "monitoring")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    work = tmp_path_factory.mktemp("installed")
    assert ROOT not in work.parents
    wheel = build_wheel(work)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"{wheel}[verify]"],
                         capture_output=True, text=True, timeout=1200)
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-2000:]
    here = work / "elsewhere"
    here.mkdir()
    # The caller's environment without sovctl's or Ansible's variables. PATH stays as it
    # is (Node.js for the browser probe may be the one `make node` put in the checkout's
    # virtualenv); the installed sovctl puts its own scripts directory first.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SOVCTL_", "ANSIBLE_", "VIRTUAL_ENV", "PYTHON"))}

    def sovctl(*args: str, timeout: int = 1800, extra_env: dict | None = None
               ) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(venv / "bin" / "sovctl"), *args], cwd=here,
                              env={**env, **(extra_env or {})},
                              capture_output=True, text=True, timeout=timeout)
        print(f"$ sovctl {' '.join(args)}  -> exit {proc.returncode}")
        return proc

    sovctl.wheel = wheel
    sovctl.python = venv / "bin" / "python"
    sovctl.cwd, sovctl.env = here, env
    return sovctl


def _output(proc: subprocess.CompletedProcess) -> str:
    return (proc.stdout + proc.stderr)[-6000:]


def test_the_wheel_carries_roles_playbooks_policies_and_data_but_no_secret(installed):
    # Built from this checkout while the sandbox runs: its vault, vault password, SSH key
    # and CA are in the tree the wheel is built from, and must stay out of it.
    names = zipfile.ZipFile(installed.wheel).namelist()
    for needed in ("sovctl/_content/playbooks/site.yml", "sovctl/_content/ansible.cfg",
                   "sovctl/_content/roles/coturn/tasks/main.yml",
                   "sovctl/_content/playbooks/vars/services.yml",
                   "sovctl/_content/policies/eu-sovereign.yml", "sovctl/data/providers.yml",
                   "sovctl/data/containers.conf", "sovctl/probes/meet_browser.py",
                   "sovctl/_content/inventories/sandbox/hosts.yml"):
        assert needed in names, needed
    working = (".vault-pass", "vault.yml", "sandbox_ssh.yml", ".key")
    leaked = [n for n in names if n.endswith(working) or "node_modules/" in n or "/.sovctl" in n]
    assert leaked == []


def test_it_runs_from_its_own_content(installed):
    version = installed("--version")
    assert version.returncode == 0 and "sovctl" in version.stdout, _output(version)
    where = subprocess.run(
        [str(installed.python), "-c", "import sovctl.paths as p; print(p.project_root())"],
        cwd=installed.cwd, env=installed.env, capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).parent.name == "sovctl", where.stdout
    assert Path(where.stdout.strip()).name == "_content", where.stdout


def test_init_check_and_audit_a_new_inventory(installed):
    init = installed("init", "inv", "--domain", "collab.example.fr",
                     "--host", "turn1:turn:192.0.2.10:ovhcloud:gra")
    assert init.returncode == 0, _output(init)
    check = installed("check", "--offline", "-i", "inv")
    assert check.returncode == 0 and "every variable valid" in check.stdout, _output(check)
    audit = installed("audit", "-i", "inv")
    assert audit.returncode in (0, 1) and "turn1" in audit.stdout, _output(audit)
    as_json = installed("audit", "-i", "inv", "--format", "json")
    assert as_json.returncode in (0, 1) and '"hosts"' in as_json.stdout, _output(as_json)


def test_its_own_sandbox_inventory_lives_in_the_state_directory(installed, tmp_path):
    # Without -i an installed sovctl works on the sandbox, whose inventory and working files
    # go to $XDG_STATE_HOME/sovctl/sandbox (not into the package, not into the checkout's).
    state = {"XDG_STATE_HOME": str(tmp_path)}
    sandbox = tmp_path / "sovctl" / "sandbox"
    fresh = installed("check", "--offline", extra_env=state)
    assert fresh.returncode == 65, _output(fresh)
    assert f"run `sovctl secrets ensure -i {sandbox}`" in fresh.stdout, _output(fresh)
    assert (sandbox / "hosts.yml").is_file()
    ensure = installed("secrets", "ensure", "-i", str(sandbox), extra_env=state)
    assert ensure.returncode == 0, _output(ensure)
    ready = installed("check", "--offline", extra_env=state)
    assert ready.returncode == 0, _output(ready)
    assert f"Inventory {sandbox}: 7 host(s), every variable valid" in ready.stdout


def test_a_dry_run_on_the_sandbox_changes_nothing(installed):
    proc = installed("deploy", "-i", str(SANDBOX), "--check", "--fail-on-change")
    assert proc.returncode == 0, _output(proc)
    assert re.search(r"^\s*sandbox-meet\s.*changed=0", proc.stdout, re.M), _output(proc)


def test_verify_runs_every_probe_and_passes(installed):
    metrics = installed.cwd / "sovctl.prom"
    proc = installed("verify", "-i", str(SANDBOX), "--metrics", str(metrics))
    rows = re.findall(r"^(\S+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s*$", proc.stdout, re.M)
    table = {(host, service): (int(p), int(f), int(s), verdict)
             for host, service, p, f, s, verdict in rows if host != "HOST"}
    assert {service for _, service in table} >= set(SERVICES), _output(proc)
    assert {v[3] for v in table.values()} == {"PASS"}, _output(proc)
    # The meeting app's browser flow ran (Node.js, chromium): nothing of it skipped.
    assert table[("sandbox-meet", "meet")][2] == 0, _output(proc)
    assert proc.returncode == 0, _output(proc)
    # The same results as Prometheus metrics (parsed by the installed prometheus_client):
    # a success sample of 1 for every probe that passed, none of 0.
    parse = subprocess.run(
        [str(installed.python), "-c",
         "import sys, json; from prometheus_client.parser import text_string_to_metric_families"
         " as f; print(json.dumps([(s.name, s.labels, s.value) for m in "
         "f(open(sys.argv[1]).read()) for s in m.samples]))", str(metrics)],
        capture_output=True, text=True, timeout=60)
    assert parse.returncode == 0, parse.stderr
    success = [(labels, value) for name, labels, value in json.loads(parse.stdout)
               if name == "sovctl_probe_success"]
    assert {labels["service"] for labels, _ in success} >= set(SERVICES), success[:5]
    assert all(value == 1 for _, value in success), [s for s in success if s[1] != 1]
    assert len(success) == sum(p for p, _, _, _ in table.values()), len(success)
