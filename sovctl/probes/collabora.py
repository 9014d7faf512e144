"""Collabora Online, probed as a browser and a WOPI host would meet it, through the nginx edge.

Where Collabora's package source was unreachable when the host was converged (the role
then records why, in /etc/sovctl/collabora/package-source.json), coolwsd is not
installed: every probe that needs it is skipped with the unreachable source named in the
reason, and every probe that does not (rendered settings, nginx, TLS, CSP, routing,
firewall) still runs.

How the probes reach the hosts and speak to the edge is in ``collabora_client.py``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import ssl
import time
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from sovctl.probes import Failed, Run, Skipped, Suite, context, expect
from sovctl.probes.collabora_client import (
    ALIAS_GROUPS,
    BASIC_AUTH_STATUS,
    HEADER_PROBE,
    Rendered,
    edge_get,
    office_address,
    office_host,
    open_websocket,
    probed_heads,
    upgrade_headers,
    wopi_src,
    ws_path,
)
from sovctl.probes.web import redirects_to_https

suite = Suite("collabora", "office", doc=__doc__)

STATE_DIR = "/etc/sovctl/collabora"
SETTINGS = f"{STATE_DIR}/coolwsd-settings.xml"
DECISION = f"{STATE_DIR}/package-source.json"
CHECKER = "/usr/local/libexec/sovctl/collabora-config-check"
COOLWSD_XML = "/etc/coolwsd/coolwsd.xml"
UPSTREAM_PORT = 9980
# File types whose edit action Collabora's discovery must list.
EDITABLE = {"odt", "docx", "ods", "xlsx", "odp", "pptx"}
NOT_ALLOWED_WOPI = "https://wopi-not-allowed.invalid"


@suite.subject
def office(run: Run, name: str):
    """One office host as the probes meet it; the CA bundle file lives until the run ends."""
    inv_host = context.inventory().hosts[name]
    host = office_host(name)
    address = office_address(name, host)
    base = context.resolve(inv_host, "collabora_hostname") or ""
    if not base or "{{" in base:
        base = f"https://{address}"
    decision_file = host.file(DECISION)
    decision = json.loads(decision_file.content_string) if decision_file.exists else {}
    ca = context.internal_ca(host)
    wopi = inv_host.vars.get("collabora_wopi_hosts") or []
    with context.ca_bundle(ca) as verify:
        yield {
            "name": name, "host": host, "address": address, "base": base.rstrip("/"),
            "verify": verify, "ca": ca, "decision": decision,
            "installed": host.run(
                "dpkg-query --show --showformat='${Status}' coolwsd").stdout.endswith("installed"),
            "wopi": [] if "{{" in str(wopi) else [
                {"url": str(w["url"]).rstrip("/"), "aliases": list(w.get("aliases") or [])}
                if isinstance(w, dict) else {"url": str(w).rstrip("/"), "aliases": []}
                for w in wopi],
            "admin_user": inv_host.vars.get("collabora_admin_user", "sovctl-admin"),
            "admin_password": context.resolve(inv_host, "collabora_admin_password")
            or context.resolve(inv_host, "vault_collabora_admin_password"),
            "expose_admin": bool(inv_host.vars.get("collabora_expose_admin_console", False)),
            "expose_conversion": bool(inv_host.vars.get("collabora_expose_conversion_api",
                                                        False)),
            "vars": inv_host.vars,
            "run": run,
        }


def needs_coolwsd(office, what: str) -> None:
    """Skipped, naming the unreachable package source, when coolwsd is not installed."""
    if office["installed"]:
        return
    d = office["decision"]
    if d and not d.get("available", True):
        raise Skipped(f"{what}: needs Collabora Online, not installed on {office['name']} "
                      f"because its package source {d.get('probe_url')} was unreachable "
                      f"({d.get('status')}) when the host was converged")
    raise Skipped(f"{what}: needs Collabora Online, which is not installed on {office['name']}")


# --------------------------------------------------------------------------
# The settings sovctl applies to coolwsd.xml, as rendered on the host


def rendered(office) -> Rendered:
    """The host's rendered settings, read once per run (a missing file fails each probe)."""
    def read() -> Rendered:
        f = office["host"].file(SETTINGS)
        expect(f.exists, f"{SETTINGS} is missing on {office['name']}: the role did not run")
        return Rendered(f.content_string)
    return office["run"].once((suite.service, "rendered", office["name"]), read)


@suite.probe
def package_source_decision_is_recorded_and_nothing_is_faked(office) -> str:
    d = office["decision"]
    expect(d, f"{DECISION} is missing on {office['name']}")
    expect(d["probe_url"].startswith(d["repository"].rstrip("/")),
           f"the probed URL {d['probe_url']} is not under the repository {d['repository']}")
    if d["available"]:
        expect(not d["skipped"], f"source available, yet recorded as skipped: {d['skipped']}")
        return f"package source {d['repository']} available, nothing skipped"
    # Not available: nothing of Collabora may be on the host, and the skip is stated.
    expect("package install" in d["skipped"], f"source unreachable, skipped: {d['skipped']}")
    expect(not office["installed"], "coolwsd is installed though its source was unreachable")
    expect(not office["host"].file(COOLWSD_XML).exists, f"{COOLWSD_XML} exists, no package")
    expect(not office["host"].exists("coolwsd"), "a coolwsd command exists, no package")
    return f"source {d['probe_url']} unreachable ({d.get('status')}): recorded, nothing installed"


@suite.probe
def settings_file_is_well_formed_and_passes_the_checker(office) -> str:
    h, f = office["host"], office["host"].file(SETTINGS)
    expect(f.user == "root" and f.mode & 0o077 == 0,
           f"{SETTINGS} is {f.user}'s, mode {f.mode:o}: holds the admin hash, root only")
    h.run_expect([0], f"xmllint --noout {SETTINGS}")
    h.run_expect([0], f"{CHECKER} settings {SETTINGS}")
    return f"{SETTINGS}: root, mode {f.mode:o}; xmllint and the checker pass"


@suite.probe
def tls_is_terminated_by_nginx(office) -> str:
    values = rendered(office).values
    for xpath, want in (("/config/ssl/enable", "false"), ("/config/ssl/termination", "true"),
                        ("/config/net/listen", "loopback")):
        expect(values.get(xpath) == want, f"{xpath} is {values.get(xpath)!r}, not {want!r}")
    return "ssl.enable false, ssl.termination true, net.listen loopback"


@suite.probe
def each_wopi_host_of_the_inventory_has_its_alias_group(office) -> str:
    r = rendered(office)
    if not office["wopi"]:
        raise Skipped("collabora_wopi_hosts is templated in this inventory")
    mode = r.attrs.get((ALIAS_GROUPS, "mode"))
    expect(mode == "groups", f"alias_groups mode is {mode!r}, not 'groups'")
    urls, want = [g["url"] for g in r.groups], [w["url"] for w in office["wopi"]]
    expect(urls == want, f"alias groups for {urls}, WOPI hosts of the inventory {want}")
    allow, aliases = [g["allow"] for g in r.groups], [g["aliases"] for g in r.groups]
    expect(all(a == "true" for a in allow), f"allow per group: {allow}")
    want = [w["aliases"] for w in office["wopi"]]
    expect(aliases == want, f"aliases {aliases}, inventory's {want}")
    return f"mode groups, one allowed group per WOPI host: {urls}"


@suite.probe
def frame_ancestors_are_the_wopi_hosts(office) -> str:
    r = rendered(office)
    if not office["wopi"]:
        raise Skipped("collabora_wopi_hosts is templated in this inventory")
    ancestors = r.values.get("/config/net/frame_ancestors", "").split()
    want = [w["url"] for w in office["wopi"]]
    expect(ancestors == want, f"net.frame_ancestors {ancestors}, WOPI hosts {want}")
    return f"net.frame_ancestors {ancestors}"


def _pbkdf2_matches(secure_password: str, password: str) -> bool:
    kind, digest, iterations, salt, expected = secure_password.split(".")
    expect((kind, digest) == ("pbkdf2", "sha512"), f"a {kind}.{digest} hash, not pbkdf2.sha512")
    got = hashlib.pbkdf2_hmac("sha512", password.encode(), bytes.fromhex(salt), int(iterations),
                              len(bytes.fromhex(expected)))
    return got.hex() == expected


@suite.probe
def admin_console_credentials_come_from_the_vault(office) -> str:
    r = rendered(office)
    password = office["admin_password"]
    if not password or "{{" in password:
        raise Skipped("the admin password is not readable from this inventory's vault")
    secure = r.values.get("/config/admin_console/secure_password", "")
    expect(secure, f"no /config/admin_console/secure_password in {SETTINGS}")
    user = r.values.get("/config/admin_console/username")
    expect(user == office["admin_user"], f"admin user {user!r}, not {office['admin_user']!r}")
    expect(_pbkdf2_matches(secure, password), "the hash is not of the vault's password")
    expect(not _pbkdf2_matches(secure, password + "x"), "the hash matches other passwords")
    expect(password not in office["host"].file(SETTINGS).content_string,
           f"the admin password is in clear in {SETTINGS}")
    return f"admin user {user}: PBKDF2 hash of the vault's password only, no clear password"


@suite.probe
def text_services_are_the_audited_variables(office) -> str:
    """LanguageTool and DeepL are on exactly when their registry variable holds a URL."""
    values, seen = rendered(office).values, []
    for service, var, key in (("languagetool", "collabora_languagetool_url", "base_url"),
                              ("deepl", "collabora_deepl_url", "api_url")):
        url = office["vars"].get(var, "")
        if "{{" in str(url):
            seen.append(f"{service}: {var} templated")
            continue
        enabled = values.get(f"/config/{service}/enabled")
        expect(enabled == ("true" if url else "false"),
               f"/config/{service}/enabled is {enabled!r} with {var} = {url!r}")
        got = values.get(f"/config/{service}/{key}")
        expect(got == url, f"/config/{service}/{key} is {got!r}, {var} is {url!r}")
        seen.append(f"{service} {'on: ' + url if url else 'off'}")
    return ", ".join(seen)


@suite.probe
def limits_are_sized_from_the_host(office) -> str:
    values, seen = rendered(office).values, []
    v, h = office["vars"], office["host"]
    vcpus = int(h.check_output("grep -c ^processor /proc/cpuinfo"))
    mem_mb = int(h.check_output("awk '/^MemTotal:/ {print $2}' /proc/meminfo")) // 1024
    capacity = int(v.get("collabora_capacity_users") or max(1, min(10 * vcpus,
                                                                    (mem_mb - 1024) // 100)))
    expected = {
        "/config/num_prespawn_children": v.get("collabora_prespawn_children",
                                               max(1, min(4, capacity // 25))),
        "/config/per_document/max_concurrency": v.get("collabora_max_concurrency",
                                                      max(1, min(4, vcpus))),
        "/config/per_document/cleanup/limit_dirty_mem_mb": v.get(
            "collabora_document_memory_limit_mb", max(512, min(3072, mem_mb // 8))),
        "/config/memproportion": v.get("collabora_memory_proportion", 80),
    }
    for xpath, want in expected.items():
        if "{{" in str(want):
            continue
        expect(values.get(xpath) == str(want),
               f"{xpath} is {values.get(xpath)!r}, not {want} ({vcpus} vCPU, {mem_mb} MB)")
        seen.append(f"{xpath.rsplit('/', 1)[-1]}={want}")
    return f"{vcpus} vCPU, {mem_mb} MB: {', '.join(seen)}"


# --------------------------------------------------------------------------
# The nginx edge in front of coolwsd: config, TLS, headers, routing


@suite.probe
def nginx_configuration_is_valid(office) -> str:
    office["host"].run_expect([0], "nginx -t -q")
    return "nginx -t: configuration valid"


@suite.probe
def tls_handshake_verifies_against_the_deployment_ca(office) -> str:
    if not office["ca"]:
        raise Skipped("no internal CA on the host (tls_mode external): checked by the ACME client")
    ctx = ssl.create_default_context(cadata=office["ca"])
    ctx.check_hostname = False  # test hosts are reached by address; SAN checked below
    port = urlsplit(office["base"]).port or 443
    with socket.create_connection((office["address"], port), timeout=5) as raw, \
            ctx.wrap_socket(raw) as tls:
        cert, version = tls.getpeercert(), tls.version()
    sans = {v for _k, v in cert.get("subjectAltName", ())}
    expect(office["name"] in sans or office["address"] in sans,
           f"the certificate names {sorted(sans)}, not {office['name']} or {office['address']}")
    expect(version in ("TLSv1.2", "TLSv1.3"), f"the handshake negotiated {version}")
    return f"{version} on port {port}, chains to the deployment CA, SAN {sorted(sans)}"


@suite.probe
def plain_http_is_redirected_to_https(office) -> str:
    return redirects_to_https(f"http://{urlsplit(office['base']).hostname}/hosting/discovery")


@suite.probe
def csp_lets_the_wopi_hosts_embed_the_editor_and_never_none(office) -> str:
    r = edge_get(office, "/browser/dist/cool.html")
    csp = r.headers.get("Content-Security-Policy", "")
    # Several policies (nginx's, coolwsd's own) arrive comma-joined; browsers enforce each.
    directives = [d.split()[1:] for policy in csp.split(",") for d in policy.split(";")
                  if d.split()[:1] == ["frame-ancestors"]]
    expect(directives, f"no frame-ancestors in {csp!r}")
    for ancestors in directives:
        expect("'none'" not in ancestors, f"frame-ancestors 'none' in {csp!r}")
        for w in office["wopi"]:
            expect(w["url"] in ancestors, f"{w['url']} may not embed the editor: {csp!r}")
    expect("X-Frame-Options" not in r.headers, "X-Frame-Options would block the WOPI hosts")
    hsts = r.headers.get("Strict-Transport-Security", "")
    expect("max-age=" in hsts, f"Strict-Transport-Security is {hsts!r}")
    return f"frame-ancestors {directives}, no X-Frame-Options, HSTS {hsts!r}"


ROUTED = ["/hosting/discovery", "/hosting/capabilities", "/browser/dist/cool.html",
          "/cool/ws-path", "/cool/some/request"]


@suite.probe(params={path: {"path": path} for path in ROUTED})
def collabora_paths_are_proxied_to_coolwsd(office, path: str) -> str:
    """Without coolwsd nginx answers 502 (it tried the upstream); with it, coolwsd answers."""
    headers = {}
    if path == "/cool/ws-path":
        if office["installed"]:
            raise Skipped("a real websocket: checked by the handshake probe")
        origin = office["wopi"][0]["url"] if office["wopi"] else "https://wopi.invalid"
        path = ws_path(wopi_src(origin))
        headers = upgrade_headers()
    r = edge_get(office, path, headers=headers)
    if office["installed"]:
        expect(r.status_code != 502, f"{path}: nginx could not reach coolwsd (502)")
        return f"{path}: {r.status_code} from coolwsd"
    expect(r.status_code == 502, f"{path}: {r.status_code} (expected nginx's 502: no coolwsd)")
    return f"{path}: 502 from nginx, which tried the upstream (no coolwsd)"


DENIED = [("/cool/adminws", "admin"), ("/browser/dist/admin/admin.html", "admin"),
          ("/cool/getMetrics", "admin"), ("/cool/convert-to/pdf", "conversion"),
          ("/cool/extract-link-targets", "conversion")]


@suite.probe(params={path: {"path": path, "kind": kind} for path, kind in DENIED})
def admin_and_conversion_endpoints_are_not_proxied(office, path: str, kind: str) -> str:
    if office[f"expose_{kind}"]:
        raise Skipped(f"collabora_expose_{'admin_console' if kind == 'admin' else 'conversion_api'}"
                      " is true in this inventory")
    status = edge_get(office, path).status_code
    expect(status == 404, f"{path}: {status}, not 404")
    return f"{path}: 404"


@suite.probe
def nginx_upgrades_only_the_document_websocket(office) -> str:
    """What nginx forwards upstream: Upgrade on /cool/.../ws, never on discovery."""
    if office["installed"]:
        raise Skipped("coolwsd holds the upstream port: the real websocket handshake is checked")
    h = office["host"]
    if h.run(f"ss -Hltn 'sport = :{UPSTREAM_PORT}'").stdout.strip():
        raise Skipped(f"something listens on {UPSTREAM_PORT} on {office['name']}")
    script, out = "/tmp/sovctl-header-probe.py", "/tmp/sovctl-header-probe.out"  # noqa: S108
    encoded = base64.b64encode(HEADER_PROBE.encode()).decode()
    h.run_expect([0], f"echo {encoded} | base64 -d > {script} && rm -f {out}")
    pid = h.check_output(f"nohup timeout 40 python3 {script} 127.0.0.1 {UPSTREAM_PORT} {out} 2 "
                         ">/dev/null 2>&1 & echo $!")
    try:
        for _ in range(50):
            if h.run(f"ss -Hltn 'sport = :{UPSTREAM_PORT}'").stdout.strip():
                break
            time.sleep(0.1)
        origin = office["wopi"][0]["url"] if office["wopi"] else "https://wopi.invalid"
        document_ws = ws_path(wopi_src(origin))
        upgrade = upgrade_headers()
        for path in (document_ws, "/hosting/discovery"):
            status = edge_get(office, path, headers=upgrade).status_code
            expect(status == 503, f"{path} answered {status}, not the stand-in's 503")
        for _ in range(50):
            heads = probed_heads(h.file(out).content_string if h.file(out).exists else "")
            if len(heads) >= 2:
                break
            time.sleep(0.1)
    finally:
        h.run(f"kill {pid} 2>/dev/null; rm -f {script}")
    ws = heads.get(document_ws)
    expect(ws is not None, f"nginx did not forward {document_ws} unchanged: {sorted(heads)}")
    expect(ws.get("upgrade") == "websocket" and ws.get("connection", "").lower() == "upgrade"
           and ws.get("x-forwarded-proto") == "https", f"nginx forwarded {document_ws} with {ws}")
    disc = heads.get("/hosting/discovery")
    expect(disc is not None and "upgrade" not in disc and disc.get("connection") == "close",
           f"nginx forwarded discovery with {disc}")
    return "the stand-in upstream saw Upgrade: websocket on the document websocket only"


@suite.probe
def only_the_edge_ports_are_declared_and_open(office) -> str:
    h = office["host"]
    declared = h.file("/etc/sovctl/firewall-declared.json")
    if not declared.exists:
        raise Skipped("the firewall playbook has not run on this host")
    ports = {str(p["port"]) for p in json.loads(declared.content_string)}
    expect({"80", "443"} <= ports, f"declared ports {sorted(ports)} lack 80 or 443")
    expect(str(UPSTREAM_PORT) not in ports, f"{UPSTREAM_PORT} is declared: {sorted(ports)}")
    ruleset = h.check_output("nft list ruleset")
    expect(re.search(r"tcp dport 443 accept", ruleset), "no 'tcp dport 443 accept' in nftables")
    expect(str(UPSTREAM_PORT) not in ruleset, f"{UPSTREAM_PORT} appears in the nftables ruleset")
    return f"declared {sorted(ports)}; nftables accepts 443, nothing about {UPSTREAM_PORT}"


@suite.probe
def coolwsd_port_is_not_reachable_from_outside(office) -> str:
    target = f"{office['address']}:{UPSTREAM_PORT}"
    try:
        socket.create_connection((office["address"], UPSTREAM_PORT), timeout=3).close()
    except OSError as exc:
        return f"{target} unreachable from here: {exc}"
    raise Failed(f"{target} accepted a connection from outside the host")


# --------------------------------------------------------------------------
# coolwsd itself (needs the package)


@suite.probe
def coolwsd_is_running_enabled_and_on_loopback(office) -> str:
    needs_coolwsd(office, "coolwsd service")
    svc = office["host"].service("coolwsd")
    expect(svc.is_running and svc.is_enabled,
           f"coolwsd: running {svc.is_running}, enabled {svc.is_enabled}")
    listening = office["host"].check_output(f"ss -Hltn 'sport = :{UPSTREAM_PORT}'")
    loopback = all(" 127.0.0.1:" in line or " [::1]:" in line for line in listening.splitlines())
    expect(listening and loopback, f"port {UPSTREAM_PORT} not on loopback only: {listening!r}")
    return f"coolwsd running and enabled, listening on loopback:{UPSTREAM_PORT} only"


@suite.probe
def live_coolwsd_xml_carries_the_managed_settings(office) -> str:
    r = rendered(office)
    needs_coolwsd(office, "coolwsd.xml settings")
    h = office["host"]
    h.run_expect([0], f"{CHECKER} coolwsd {COOLWSD_XML}")
    live = ET.fromstring(h.file(COOLWSD_XML).content_string)  # noqa: S314 - our test host
    for xpath, value in r.values.items():
        el = live.find(xpath.removeprefix("/config/"))
        got = el.text or "" if el is not None else ""
        shown = "" if "password" in xpath else f": live {got!r}, rendered {value!r}"
        expect(got == value, f"{COOLWSD_XML} {xpath}{shown}")
    groups = live.find(ALIAS_GROUPS.removeprefix("/config/"))
    mode = None if groups is None else groups.get("mode")
    expect(mode == "groups", f"{COOLWSD_XML} alias_groups mode is {mode!r}, not 'groups'")
    hosts = [g.findtext("host") for g in groups.findall("group")]
    want = [g["url"] for g in r.groups]
    expect(hosts == want, f"{COOLWSD_XML} alias groups {hosts}, rendered {want}")
    return f"{len(r.values)} managed settings and {len(hosts)} alias groups in {COOLWSD_XML}"


@suite.probe
def discovery_lists_the_edit_actions_through_nginx(office) -> str:
    needs_coolwsd(office, "WOPI discovery through nginx")
    r = edge_get(office, "/hosting/discovery")
    expect(r.status_code == 200, f"/hosting/discovery answered {r.status_code}")
    root = ET.fromstring(r.content)  # noqa: S314 - the deployment's own discovery document
    edit = {a.get("ext"): a.get("urlsrc") for a in root.iter("action") if a.get("name") == "edit"}
    expect(set(edit) >= EDITABLE, f"no edit action for {sorted(EDITABLE - set(edit))}")
    outside = sorted(u for u in edit.values() if not u.startswith(f"{office['base']}/browser/"))
    expect(not outside, f"edit actions outside {office['base']}/browser/: {outside[:3]}")
    return f"edit actions for {sorted(EDITABLE)} under {office['base']}/browser/"


@suite.probe
def capabilities_are_served_through_nginx(office) -> str:
    needs_coolwsd(office, "capabilities through nginx")
    r = edge_get(office, "/hosting/capabilities")
    expect(r.status_code == 200, f"/hosting/capabilities answered {r.status_code}")
    body = r.json()
    expect(isinstance(body, dict), f"/hosting/capabilities is not a JSON object: {body!r:.200}")
    return f"/hosting/capabilities: 200, {len(body)} keys"


@suite.probe
def websocket_handshake_succeeds_through_nginx(office) -> str:
    needs_coolwsd(office, "websocket handshake through nginx")
    if not office["wopi"]:
        raise Skipped("collabora_wopi_hosts is templated in this inventory")
    status = open_websocket(office, wopi_src(office["wopi"][0]["url"]), wait_s=3)[0]
    expect(status == 101, f"the websocket handshake through nginx answered {status}")
    return "websocket handshake through nginx: 101"


@suite.probe
def wopi_host_not_in_the_list_is_refused(office) -> str:
    needs_coolwsd(office, "refusal of a WOPI host not in the list")
    status, frames, close = open_websocket(office, wopi_src(NOT_ALLOWED_WOPI))
    refused = status in (401, 403) or (status == 101 and (
        any("kind=unauthorized" in f for f in frames) or close == 1008))
    expect(refused, f"status {status}, frames {frames[:3]}, close {close}")
    return f"{NOT_ALLOWED_WOPI} refused: status {status}, close {close}"


@suite.probe
def admin_console_accepts_the_vault_password_only(office) -> str:
    needs_coolwsd(office, "admin console login")
    if not office["admin_password"] or "{{" in office["admin_password"]:
        raise Skipped("the admin password is not readable from this inventory's vault")
    h, user = office["host"], office["admin_user"]
    url = f"http://127.0.0.1:{UPSTREAM_PORT}/browser/dist/admin/admin.html"
    for what, password, want in (("a wrong password", "not-the-password", "401"),
                                 ("the vault's password", office["admin_password"], "200")):
        # run, not check_output: its error would show the command, with the password.
        result = h.run("python3 -c %s %s %s", BASIC_AUTH_STATUS, url, f"{user}:{password}")
        expect(result.rc == 0, f"the login with {what} exited {result.rc}: {result.stderr[-500:]}")
        got = result.stdout.rstrip("\r\n")
        expect(got == want, f"the admin console answered {got} to {user} with {what}, not {want}")
    return f"admin console: 401 to {user} with a wrong password, 200 with the vault's"
