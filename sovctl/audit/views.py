"""``groups`` and ``hostvars`` for the audit's templates: what the roles' defaults read of
other hosts (LiveKit's TURN list from the ``turn`` group, the meeting app's OIDC issuer
from the first identity host's ``keycloak_hostname``).

Both are the same for every host of an audit, so a template reading them is evaluated
once per distinct input (sovctl.audit.hostvars.Renderer keys on its text, which names
the view and nothing else), not once per host.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sovctl.audit.hostvars import HostVars
from sovctl.audit.safe_template import LiveView, TemplateFailure

# How deep one host's value may read another's through hostvars (and that one a third's).
MAX_HOSTVARS_DEPTH = 3


class Groups(LiveView, Mapping):
    """``groups`` as Ansible has it: each group's hosts in inventory order, and ``all``."""

    label = "groups"

    def __init__(self, hosts: list[HostVars]):
        self._groups: dict[str, list[str]] = {"all": [hv.name for hv in hosts]}
        for hv in hosts:
            for group in hv.groups:
                self._groups.setdefault(group, []).append(hv.name)

    def __getitem__(self, group: str) -> list[str]:
        return list(self._groups[group])

    def __iter__(self) -> Iterator[str]:
        return iter(self._groups)

    def __len__(self) -> int:
        return len(self._groups)


class HostVarsView(LiveView, Mapping):
    """``hostvars``: another host's inventory variables, rendered in that host's own
    context, read only when a template asks (a role default such as the meeting app's
    OIDC issuer reads the first identity host's keycloak_hostname)."""

    label = "hostvars"

    def __init__(self, reader: Any):
        self._reader = reader

    def __getitem__(self, host: str) -> OneHostView:
        return OneHostView(self._reader, self._reader.by_name[host])

    def __iter__(self) -> Iterator[str]:
        return iter(self._reader.by_name)

    def __len__(self) -> int:
        return len(self._reader.by_name)


class OneHostView(LiveView, Mapping):
    label = "one host's vars"

    def __init__(self, reader: Any, hv: HostVars):
        self._reader, self._hv = reader, hv

    def __getitem__(self, var: str) -> Any:
        if var not in self._hv.raw:
            raise KeyError(var)  # a role default or an unset variable: undefined
        reader = self._reader
        if reader.depth >= MAX_HOSTVARS_DEPTH:
            raise TemplateFailure(f"hostvars read more than {MAX_HOSTVARS_DEPTH} hosts deep "
                                  f"(at {self._hv.name}.{var})")
        reader.depth += 1
        try:
            value = reader.render(self._hv, reader.context(self._hv), var)
        finally:
            reader.depth -= 1
        reader.reads.append((self._hv, var))
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._hv.raw)

    def __len__(self) -> int:
        return len(self._hv.raw)
