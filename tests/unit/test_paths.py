"""Where sovctl finds its content and the sandbox's inventory."""

from __future__ import annotations

from pathlib import Path

import pytest

from sovctl import paths

CHECKOUT = Path(__file__).resolve().parents[2]


def test_a_checkout_uses_its_own_sandbox_inventory(monkeypatch):
    monkeypatch.delenv("SOVCTL_SANDBOX_DIR", raising=False)
    monkeypatch.delenv("SOVCTL_HOME", raising=False)
    assert not paths.installed()
    assert paths.default_inventory() == CHECKOUT / "inventories" / "sandbox"


@pytest.fixture
def wheel_content(tmp_path, monkeypatch):
    """A project root as an installed wheel has it: the sandbox's shipped inventory."""
    content = tmp_path / "site" / "sovctl" / "_content"
    shipped = content / "inventories" / "sandbox"
    (shipped / "group_vars" / "all").mkdir(parents=True)
    (shipped / "hosts.yml").write_text("all: {hosts: {sandbox-turn: {}}}\n")
    (shipped / "group_vars" / "all" / "main.yml").write_text("sov_domain: sandbox.test\n")
    monkeypatch.setattr(paths, "project_root", lambda: content)
    monkeypatch.setattr(paths, "installed", lambda: True)
    monkeypatch.delenv("SOVCTL_SANDBOX_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return shipped


def test_installed_the_sandbox_lives_in_the_state_directory(wheel_content, tmp_path):
    inventory = paths.default_inventory()
    assert inventory == tmp_path / "state" / "sovctl" / "sandbox"
    assert (inventory / "hosts.yml").read_text() == (wheel_content / "hosts.yml").read_text()
    assert (inventory / "group_vars" / "all" / "main.yml").is_file()
    # Nothing is written into the installed content.
    assert sorted(p.name for p in wheel_content.rglob("*")) == ["all", "group_vars",
                                                                "hosts.yml", "main.yml"]


def test_the_working_files_are_kept_and_the_shipped_settings_follow_sovctl(wheel_content):
    inventory = paths.default_inventory()
    vault = inventory / "group_vars" / "all" / "vault.yml"
    vault.write_text("$ANSIBLE_VAULT;1.1;AES256\n00\n")
    (inventory / ".vault-pass").write_text("secret\n")
    (inventory / "hosts.yml").write_text("edited by hand\n")
    (wheel_content / "group_vars" / "all" / "main.yml").write_text("sov_domain: upgraded.test\n")
    again = paths.default_inventory()
    assert again == inventory
    assert vault.read_text().startswith("$ANSIBLE_VAULT")
    assert (inventory / ".vault-pass").read_text() == "secret\n"
    assert (inventory / "hosts.yml").read_text() == (wheel_content / "hosts.yml").read_text()
    assert "upgraded.test" in (inventory / "group_vars" / "all" / "main.yml").read_text()


def test_sovctl_sandbox_dir_chooses_the_place(wheel_content, tmp_path, monkeypatch):
    monkeypatch.setenv("SOVCTL_SANDBOX_DIR", str(tmp_path / "mine"))
    assert paths.default_inventory() == tmp_path / "mine"
    assert (tmp_path / "mine" / "hosts.yml").is_file()


def test_a_sandbox_elsewhere_never_takes_another_sandbox_s_working_files(
        wheel_content, tmp_path, monkeypatch):
    # A checkout's inventories/sandbox holds its running sandbox's secrets beside the
    # shipped files: a sandbox made from it elsewhere gets the settings only.
    (wheel_content / ".vault-pass").write_text("secret\n")
    (wheel_content / "group_vars" / "all" / "vault.yml").write_text("$ANSIBLE_VAULT;1.1\n")
    (wheel_content / "group_vars" / "all" / "sandbox_ssh.yml").write_text("key: /x\n")
    (wheel_content / ".sovctl-ssh").mkdir()
    (wheel_content / ".sovctl-ssh" / "id_ed25519").write_text("PRIVATE\n")
    (wheel_content / ".sovctl" / "runs").mkdir(parents=True)
    (wheel_content / ".sovctl" / "runs" / "r.json").write_text("{}\n")
    monkeypatch.setenv("SOVCTL_SANDBOX_DIR", str(tmp_path / "mine"))
    copied = sorted(str(p.relative_to(tmp_path / "mine"))
                    for p in paths.default_inventory().rglob("*") if p.is_file())
    assert copied == ["group_vars/all/main.yml", "hosts.yml"]


def test_the_sandbox_runtime_state_is_kept_out_of_its_inventory(wheel_content, tmp_path,
                                                                monkeypatch):
    # The mirror (hundreds of MB) would otherwise be copied and hashed with the inventory.
    from sovctl import sandbox

    installed_runtime = sandbox.state_dir()
    assert installed_runtime == tmp_path / "state" / "sovctl" / "sandbox-runtime"
    assert paths.default_inventory() not in installed_runtime.parents
    monkeypatch.setattr(paths, "installed", lambda: False)
    monkeypatch.setattr(sandbox, "project_root", lambda: tmp_path / "checkout")
    assert sandbox.state_dir() == tmp_path / "checkout" / ".sovctl" / "sandbox"
