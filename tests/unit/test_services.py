"""The registry of services (playbooks/vars/services.yml) is the one list of services:
site.yml deploys each of them, every command offers exactly them, and each host's
published ports and sites are derived from it in every run (playbooks/publish.yml)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sovctl.commands.deploy import resolve_playbooks
from sovctl.commands.verify import probe_suite
from sovctl.errors import InputError
from sovctl.services import registry, upgradable

ROOT = Path(__file__).resolve().parents[2]
BOOKS = ROOT / "playbooks"


def _imports(playbook: Path) -> list[str]:
    return [Path(play["ansible.builtin.import_playbook"]).name
            for play in yaml.safe_load(playbook.read_text())
            if "ansible.builtin.import_playbook" in play]


def test_site_deploys_every_service_of_the_registry_and_nothing_else():
    imported = _imports(BOOKS / "site.yml")
    services = [svc.playbook for svc in registry().values()]
    assert "meet.yml" in services
    # Baseline first, firewalls last, and between them exactly the registry, in its order.
    assert imported == ["common.yml", *services, "firewall.yml"]


def test_every_service_names_its_playbook_groups_and_roles():
    for svc in registry().values():
        assert svc.playbook_path.is_file(), svc.name
        assert svc.groups and svc.description, svc.name
        for role in svc.roles:
            assert (ROOT / "roles" / role / "tasks" / "main.yml").is_file(), (svc.name, role)
        for module in svc.checks:
            assert (probe_suite(module) is not None
                    or (ROOT / "sovctl" / "checks" / f"{module}.py").is_file()), (svc.name, module)


def test_deploy_offers_exactly_the_registry():
    for name, svc in registry().items():
        books = resolve_playbooks(name, None)
        assert [b.name for b in books] == ["common.yml", svc.playbook, "firewall.yml"]
    for not_a_service in ("status", "site", "firewall", "edge", "publish", "backup", "upgrade"):
        with pytest.raises(InputError) as err:
            resolve_playbooks(not_a_service, None)
        assert "one of: " + ", ".join(registry()) in err.value.hint


def test_every_role_that_publishes_is_evaluated_for_its_groups():
    """Each role with a publish entry point is in sov_publishers, and every publisher's
    role has one: a role left out would lose its ports in every run of the firewall."""
    data = yaml.safe_load((BOOKS / "vars" / "services.yml").read_text())
    published = {p["role"] for p in data["sov_publishers"]}
    with_entry = {p.parent.parent.name for p in ROOT.glob("roles/*/tasks/publish.yml")}
    assert published == with_entry
    for role in with_entry:
        main_tasks = (ROOT / "roles" / role / "tasks" / "main.yml").read_text()
        assert "import_tasks: publish.yml" in main_tasks, role
        assert "cacheable" not in (ROOT / "roles" / role / "tasks" / "publish.yml").read_text()


def test_firewall_and_edge_derive_what_hosts_publish_in_the_same_run():
    for book in ("firewall.yml", "edge.yml"):
        assert _imports(BOOKS / book)[0] == "publish.yml", book
    for path in ROOT.glob("roles/*/tasks/*.yml"):
        text = path.read_text()
        assert "cacheable: true" not in text or "sov_published" not in text, path


def test_upgrade_components_come_from_the_registry():
    assert upgradable() == {"keycloak": {"group": "identity", "artifact": "keycloak"},
                            "livekit": {"group": "conferencing", "artifact": "livekit-server"}}


def test_verify_never_calls_a_service_with_nothing_checked_a_pass():
    from collections import Counter

    from sovctl.commands.verify import exit_code, verdict

    skipped = Counter(skipped=7)
    passed = Counter(passed=3, skipped=1)
    assert verdict(skipped) == "NOTHING CHECKED"
    assert verdict(passed) == "PASS"
    assert verdict(Counter(passed=3, failed=1)) == "FAIL"
    assert exit_code({("h", "collabora"): skipped}) == 1
    assert exit_code({("h", "collabora"): skipped, ("h", "coturn"): passed}) == 0
    assert exit_code({("-", "hardening"): Counter()}) == 1  # a suite with no case ran
    assert exit_code({("h", "coturn"): passed, ("h", "redis"): Counter(failed=1)}) == 1


def test_verify_without_its_probes_dependencies_names_the_extra_and_exits_69(monkeypatch):
    from click.testing import CliRunner

    from sovctl import cli
    from sovctl.commands import verify

    # The extra as the installed package declares it: the probes' real dependencies.
    declared = verify.probe_requirements()
    assert {"pytest-testinfra", "authlib", "livekit", "livekit-api", "playwright"} <= set(declared)
    verify.require_probe_dependencies()  # all of them are installed here
    monkeypatch.setattr(verify, "probe_requirements", lambda: [*declared, "no-such-dist"])

    def no_probes(*args, **kwargs):
        raise AssertionError("verify ran its probes without their dependencies")

    monkeypatch.setattr(verify, "run_probes", no_probes)
    result = CliRunner().invoke(cli.cli, ["verify", "-i", str(ROOT / "inventories/example")])
    assert result.exit_code == 69, result.output
    assert "missing: no-such-dist" in result.output
    assert "pip install 'sovctl[verify]'" in result.output
