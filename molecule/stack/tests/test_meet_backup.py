"""The meeting app's rooms are backed up and restored like Keycloak's database.

On the converged sandbox (its backup target is a repository directory on the identity
host): a room with its settings is created through the app's API, `sovctl backup` takes a
snapshot, the room is then renamed and a second room created. Then the site's database
server is rebuilt from nothing, as a replacement machine would be: Keycloak stopped, the
whole PostgreSQL cluster deleted (data and configuration, every database and login),
and `sovctl deploy --service identity` converging that host again (a new cluster, an
empty Keycloak database Keycloak then fills on its first start, an empty meeting
database). `sovctl restore --yes` brings both databases back from the snapshot: the room
has its title and access level again, the later room is gone, and the app serves both
answers without a restart.

Restoring with another machine's restic client (a new host reading the backup host over
sftp) is exercised by the keycloak scenario (kcfresh1) through the same playbook and
tasks.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sovctl.probes import context
from sovctl.probes import meet as meet_probes
from sovctl.probes.meet_client import API, get, names_resolve_to, post, user_cookie
from sovctl.probes.pytest_adapter import probe_run  # noqa: F401 - the fixture

SOVCTL = [sys.executable, "-m", "sovctl"]


def _sovctl(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([*SOVCTL, *args, "-i", str(Path(context.inventory_path()))],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (args, proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


@pytest.fixture(scope="module", params=context.host_names("meet"))
def meet(request, probe_run):  # noqa: F811 - the fixture imported above
    """A meet host as the meet probes see it; its service names resolve to the hosts
    serving them while this module's tests run, as while a probe runs."""
    subject = meet_probes.suite.subject_for(probe_run, request.param)
    with names_resolve_to(subject["names"]):
        yield subject


@pytest.fixture(scope="module")
def restored(meet):
    if not context.resolve(context.hosts("identity")[0], "sov_backup_target"):
        pytest.skip("the inventory sets no sov_backup_target")
    owner = user_cookie(meet)
    created = post(meet, "/api/rooms", cookie=owner,
                    json={"title": "Budget 2027", "access": "restricted"})
    assert created.status_code == 201, created.text
    room = created.json()["room"]
    backup = _sovctl("backup")
    renamed = post(meet, f"/api/rooms/{room}/settings", cookie=owner,
                    json={"title": "renamed after the backup", "access": "public"})
    assert renamed.status_code == 200, renamed.text
    later = post(meet, "/api/rooms", cookie=owner).json()["room"]
    server = _db_server()
    wiped = context.testinfra_host(server).run(
        "systemctl stop keycloak && pg_lsclusters --no-header"
        " | while read -r version cluster _; do"
        " pg_dropcluster --stop \"$version\" \"$cluster\" || exit 1; done"
        " && test -z \"$(pg_lsclusters --no-header)\"")
    assert wiped.rc == 0, wiped.stdout + wiped.stderr
    lost = get(meet, f"/api/rooms/{room}", cookie=owner, headers=API)
    rebuilt = _sovctl("deploy", "--service", "identity", "--limit", server)
    empty = get(meet, f"/api/rooms/{room}", cookie=owner, headers=API)
    restore = _sovctl("restore", "--host", server, "--yes")
    return {"meet": meet, "owner": owner, "room": room, "later": later, "lost": lost,
            "empty": empty, "backup": backup, "rebuilt": rebuilt, "restore": restore}


def _db_server() -> str:
    """The site's database server, as roles/meet derives it: the first identity_db host,
    else the first identity host."""
    return (context.hosts("identity_db") + context.hosts("identity"))[0].name


def test_without_its_database_the_room_is_unknown(restored):
    """Meanwhile the app says so (503, a sentence), no stack trace."""
    lost = restored["lost"]
    assert lost.status_code == 503, lost.text
    assert "cannot reach its database" in lost.json()["error"]


def test_the_rebuilt_database_server_starts_empty(restored):
    """Before the restore, the new cluster's meeting database holds no room."""
    assert restored["empty"].status_code == 404, restored["empty"].text


def test_the_room_and_its_settings_are_back(restored):
    meet, owner = restored["meet"], restored["owner"]
    info = get(meet, f"/api/rooms/{restored['room']}", cookie=owner, headers=API)
    assert info.status_code == 200, info.text
    assert (info.json()["title"], info.json()["access"], info.json()["role"]) == \
        ("Budget 2027", "restricted", "owner")


def test_a_room_created_after_the_snapshot_is_gone(restored):
    meet, owner = restored["meet"], restored["owner"]
    assert get(meet, f"/api/rooms/{restored['later']}", cookie=owner,
                headers=API).status_code == 404
    mine = get(meet, "/api/rooms", cookie=owner, headers=API).json()["rooms"]
    assert restored["room"] in [r["room"] for r in mine]


def test_backup_output_holds_no_secret(restored):
    secrets = [context.resolve(context.hosts("meet")[0], name)
               for name in ("vault_meet_db_password", "vault_backup_repo_password")]
    for proc in (restored["backup"], restored["rebuilt"], restored["restore"]):
        for secret in filter(None, secrets):
            assert secret not in proc.stdout and secret not in proc.stderr
