"""The scenarios' host layers: keyed by what they are built from, never stale."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("hostlayer", ROOT / "molecule/shared/hostlayer.py")
hostlayer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hostlayer)

BASE = "localhost/sovctl-testhost:trixie-0123456789ab"


@pytest.fixture
def roles(tmp_path):
    """A copy of two real roles and one unrelated role."""
    for role in ("postgresql", "nginx", "coturn"):
        shutil.copytree(ROOT / "roles" / role, tmp_path / role)
    return tmp_path


def test_a_change_to_any_file_of_a_named_role_gives_a_new_layer(roles):
    before = hostlayer.layer_key(BASE, roles, ["postgresql", "nginx"])
    assert hostlayer.layer_key(BASE, roles, ["postgresql", "nginx"]) == before
    template = next((roles / "nginx/templates").iterdir())
    template.write_text(template.read_text() + "\n# changed\n")
    assert hostlayer.layer_key(BASE, roles, ["postgresql", "nginx"]) != before


def test_a_new_base_image_or_package_gives_a_new_layer(roles):
    before = hostlayer.layer_key(BASE, roles, ["postgresql"])
    assert hostlayer.layer_key(BASE.replace("0123", "4567"), roles, ["postgresql"]) != before
    vars_file = roles / "postgresql/vars/main.yml"
    data = yaml.safe_load(vars_file.read_text())
    data["__postgresql_packages"].append("postgresql-contrib")
    vars_file.write_text(yaml.safe_dump(data))
    assert "postgresql-contrib" in hostlayer.role_packages(roles, ["postgresql"])
    assert hostlayer.layer_key(BASE, roles, ["postgresql"]) != before


def test_a_role_the_scenario_does_not_name_leaves_its_layer_alone(roles):
    before = hostlayer.layer_key(BASE, roles, ["postgresql"])
    (roles / "coturn/tasks/main.yml").write_text("---\n[]\n")
    assert hostlayer.layer_key(BASE, roles, ["postgresql"]) == before


def test_packages_are_the_roles_plain_lists_not_templated_choices(tmp_path):
    (tmp_path / "demo/vars").mkdir(parents=True)
    (tmp_path / "demo/defaults").mkdir()
    (tmp_path / "demo/vars/main.yml").write_text(
        "__demo_packages: [nginx, '{{ demo_extra }}']\n__demo_port: 80\n")
    (tmp_path / "demo/defaults/main.yml").write_text("demo_tool_packages: [curl]\n")
    assert hostlayer.role_packages(tmp_path, ["demo"]) == ["curl", "nginx"]


def test_an_unknown_role_is_refused_by_name(roles):
    with pytest.raises(SystemExit, match="'nope'"):
        hostlayer.layer_key(BASE, roles, ["nope"])


@pytest.mark.parametrize("scenario", ["keycloak", "cluster"])
def test_layered_scenarios_start_every_host_from_their_layer(scenario):
    scenario_dir = ROOT / "molecule" / scenario
    named = hostlayer.scenario_roles(scenario_dir)
    assert named and all((ROOT / "roles" / role).is_dir() for role in named)
    config = yaml.safe_load((scenario_dir / "molecule.yml").read_text())
    images = {platform["image"] for platform in config["platforms"]}
    assert images == {f"${{SOVCTL_TESTHOST_IMAGE:-{hostlayer.LAYER_REPO}:{scenario}}}"}
