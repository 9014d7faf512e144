"""sovctl as people install it: a wheel that carries its Ansible content and works from
any directory (init, check and audit on a new inventory, outside the checkout)."""

import os
import subprocess
import sys
import zipfile

import pytest

from tests.helpers import build_wheel

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    wheel = build_wheel(tmp_path_factory.mktemp("build"))
    target = tmp_path_factory.mktemp("site")
    # The wheel alone; its dependencies are this virtualenv's.
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), str(wheel)], check=True, capture_output=True, timeout=600)
    return wheel, target


def test_the_wheel_carries_roles_playbooks_policies_and_data_but_no_secret(installed):
    wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("sovctl/_content/playbooks/site.yml", "sovctl/_content/ansible.cfg",
                   "sovctl/_content/roles/coturn/tasks/main.yml",
                   "sovctl/_content/playbooks/vars/services.yml",
                   "sovctl/_content/policies/eu-sovereign.yml", "sovctl/data/providers.yml",
                   "sovctl/data/containers.conf", "sovctl/checks/meet_browser.py"):
        assert needed in names, needed
    assert not [n for n in names if n.endswith((".vault-pass", "vault.yml"))
                or "node_modules/" in n or "/.sovctl" in n]


def test_an_installed_sovctl_works_from_any_directory(installed, tmp_path):
    _, target = installed
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("SOVCTL_HOME", None)

    def sovctl(*args):
        return subprocess.run([sys.executable, "-m", "sovctl", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)

    where = subprocess.run(
        [sys.executable, "-c", "import sovctl.paths as p; print(p.project_root())"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert where.stdout.strip() == str(target / "sovctl" / "_content")
    init = sovctl("init", "inv", "--domain", "collab.example.fr",
                  "--host", "turn1:turn:192.0.2.10:ovhcloud:gra")
    assert init.returncode == 0, init.stdout + init.stderr
    check = sovctl("check", "--offline", "-i", "inv")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "1 host(s), every variable valid" in check.stdout
    audit = sovctl("audit", "-i", "inv", "--format", "json")
    assert audit.returncode in (0, 1), audit.stdout[-2000:] + audit.stderr[-2000:]
    assert '"hosts"' in audit.stdout
