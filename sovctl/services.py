"""The registry of services: playbooks/vars/services.yml, read by every command.

`sovctl deploy --service`, `verify`, `status`, `upgrade`, site.yml and the docs all read
this one list; nothing else is offered as a service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from sovctl.errors import InputError
from sovctl.paths import project_root

REGISTRY = Path("playbooks") / "vars" / "services.yml"


@dataclass(frozen=True)
class Service:
    name: str
    description: str
    playbook: str
    groups: tuple[str, ...]
    roles: tuple[str, ...]
    # verify module -> the inventory group whose hosts it checks
    checks: dict[str, str] = field(default_factory=dict, hash=False)
    units: dict[str, list[str]] = field(default_factory=dict, hash=False)
    # component -> {"group": inventory group of its nodes, "artifact": catalogue name}
    upgrades: dict[str, dict[str, str]] = field(default_factory=dict, hash=False)

    @property
    def playbook_path(self) -> Path:
        return project_root() / "playbooks" / self.playbook


@cache
def _load(root: Path) -> dict[str, Service]:
    data = yaml.safe_load((root / REGISTRY).read_text(encoding="utf-8"))
    return {name: Service(name=name, description=entry["description"],
                          playbook=entry["playbook"], groups=tuple(entry["groups"]),
                          roles=tuple(entry["roles"]), checks=dict(entry.get("checks") or {}),
                          units=dict(entry.get("units") or {}),
                          upgrades=dict(entry.get("upgrades") or {}))
            for name, entry in data["sov_services"].items()}


def registry() -> dict[str, Service]:
    """Every service, in deployment order."""
    return _load(project_root())


def service(name: str, option: str = "--service") -> Service:
    """The service called ``name``, or an InputError listing the services."""
    services = registry()
    if name not in services:
        raise InputError(f"unknown service {name!r}", field=option,
                         hint="one of: " + ", ".join(services))
    return services[name]


def upgradable() -> dict[str, dict[str, str]]:
    """component -> {group, artifact} for `sovctl upgrade`, from every service."""
    return {comp: spec for svc in registry().values() for comp, spec in svc.upgrades.items()}
