"""The artifact role, verified from outside: what converge installed from the mirror,
a corrupted artifact refused with the previous version left intact, an upgrade
N-1 -> N and a rollback. Tests run in file order and build on each other."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import testinfra

from sovctl import mirror

SCENARIO = Path(__file__).resolve().parent.parent
ROOT = "/opt/keycloak"
OLD, NEW = "26.5.6", "26.7.3"


def _fixture_module():
    spec = importlib.util.spec_from_file_location("mirror_fixture", SCENARIO / "mirror_fixture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def served():
    """The scenario's mirrors (good/ and tampered/) served on the podman bridge."""
    fixture = _fixture_module()
    state = fixture.start()
    yield state
    fixture.stop()


@pytest.fixture
def box(host):
    """The same test host through `podman exec`: testinfra's ansible backend starts
    Ansible for every command, which makes file checks take seconds each."""
    return testinfra.get_host(f"podman://{host.backend.host}")


@pytest.fixture(scope="module")
def catalogue():
    return mirror.load_catalogue()


def run_keycloak(mirror_url: str, version: str, entry: str = "install"):
    env = dict(os.environ)
    env["ANSIBLE_ROLES_PATH"] = str(SCENARIO.parent.parent / "roles")
    env["ANSIBLE_FORCE_COLOR"] = "false"
    return subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
         str(SCENARIO / "keycloak.yml"), "-e", f"sov_artifact_mirror={mirror_url}",
         "-e", f"artifact_version={version}", "-e", f"artifact_entry={entry}"],
        capture_output=True, text=True, env=env, timeout=600, check=False)


def tree_digest(box, path: str) -> str:
    """Every file's path, size, mode, owner and modification time, and the install record's
    content: any file added, removed, replaced or written to changes it."""
    cmd = box.run(f"cd {path} && {{ find . -printf '%P %s %m %u %T@\\n' | sort; "
                  "cat .sovctl-artifact.json; } | sha256sum")
    assert cmd.rc == 0, cmd.stderr
    return cmd.stdout.split()[0]


def current(box, root: str = ROOT) -> str:
    link = box.file(f"{root}/current")
    assert link.is_symlink
    return link.linked_to


def test_converge_installed_keycloak_from_the_mirror(box, catalogue):
    assert current(box) == f"{ROOT}/{OLD}"
    assert box.file(f"{ROOT}/current/bin/kc.sh").mode & 0o111
    record = json.loads(box.file(f"{ROOT}/{OLD}/.sovctl-artifact.json").content_string)
    assert record["sha256"] == catalogue.get("keycloak", OLD).sha256
    assert "/good/keycloak/26.5.6/" in record["source"]  # from the mirror, not Maven Central
    assert not box.file(f"{ROOT}/.staging").exists
    assert box.file(f"{ROOT}/{OLD}/lib").user == "root"


def test_livekit_server_from_the_mirror_runs(box, served):
    if "livekit-server@1.13.5" not in served["artifacts"]:
        pytest.skip("livekit-server is not in the controller's cache: `make integration` "
                    "(or `sovctl mirror sync DIR --only livekit-server`) builds it")
    binary = "/opt/livekit-server/current/bin/livekit-server"
    assert "1.13.5" in box.check_output(f"{binary} --version")
    # Start it as a transient unit and talk to it from the controller, like a client.
    box.run("systemctl stop art-livekit.service")
    start = box.run(f"systemd-run --unit art-livekit --property=RuntimeMaxSec=120 {binary} "
                    "--dev --bind 0.0.0.0")
    assert start.rc == 0, start.stderr
    address = box.interface("eth0").addresses[0]
    try:
        body = ""
        for _ in range(40):
            try:
                with urllib.request.urlopen(f"http://{address}:7880/", timeout=2) as resp:
                    body = resp.read().decode()
                    break
            except OSError:
                time.sleep(0.5)
        assert body.strip() == "OK"
    finally:
        box.run("systemctl stop art-livekit.service")


def test_corrupted_artifact_is_refused_and_the_previous_version_stays(box, served, catalogue):
    good = catalogue.get("keycloak", NEW)
    source = Path(_fixture_module().mirrors_dir()) / "good" / good.path
    tampered = Path(_fixture_module().mirrors_dir()) / "tampered" / good.path
    tampered.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, tampered)
    with open(tampered, "r+b") as fh:  # same size, a few bytes changed in the middle
        fh.seek(tampered.stat().st_size // 2)
        fh.write(b"sovctl-tampered")
    actual = hashlib.sha256(tampered.read_bytes()).hexdigest()
    before = tree_digest(box, f"{ROOT}/{OLD}")

    proc = run_keycloak(f"{served['base']}/tampered", NEW)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert f"Checksum mismatch for keycloak {NEW}" in out
    assert f"expected sha256 {good.sha256}" in out
    assert f"actual sha256 {actual}" in out
    assert f"{ROOT}/current still points at {OLD}" in out

    assert current(box) == f"{ROOT}/{OLD}"
    assert tree_digest(box, f"{ROOT}/{OLD}") == before
    assert not box.file(f"{ROOT}/{NEW}").exists
    leftovers = box.run(f"find {ROOT}/.staging -type f").stdout.split()
    assert leftovers == [], "a refused download must not stay in the staging directory"


def test_upgrade_to_n_then_roll_back_to_n_minus_1(box, served):
    before = tree_digest(box, f"{ROOT}/{OLD}")
    proc = run_keycloak(served["url"], NEW)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert current(box) == f"{ROOT}/{NEW}"
    assert box.file(f"{ROOT}/current/bin/kc.sh").exists
    assert tree_digest(box, f"{ROOT}/{OLD}") == before  # kept for a rollback

    back = run_keycloak(served["url"], OLD, entry="activate")
    assert back.returncode == 0, back.stdout + back.stderr
    assert "changed=1" in back.stdout, back.stdout  # only the symlink
    assert current(box) == f"{ROOT}/{OLD}"
