"""Keycloak, probed as an OIDC client and a user would: discovery, login, tokens, lockout."""

from __future__ import annotations

import html
import json
import re
import secrets
import shlex
from urllib.parse import parse_qs, urlsplit

from sovctl.probes import Failed, Run, Skipped, Suite, context, expect
from sovctl.probes.web import redirects_to_https

CLIENT_ID = "sovctl-check"
REDIRECT_URI = "http://127.0.0.1:8765/callback"

suite = Suite("keycloak", "identity", doc=__doc__)


@suite.subject
def kc(run: Run, name: str):
    """What every probe of an identity host receives (and what login and verified_claims
    take): addresses, issuer, the CA bundle to verify TLS with, the sandbox password."""
    inv_host = context.inventory().hosts[name]
    host = context.testinfra_host(name)
    address = context.address_of(name)
    base = context.resolve(inv_host, "keycloak_hostname") or ""
    if not base or "{{" in base:
        base = f"https://{address}"
    realm = inv_host.vars.get("keycloak_realm", "sov")
    with context.ca_bundle(context.internal_ca(host)) as verify:
        yield {
            "name": name, "host": host, "address": address, "base": base,
            "issuer": f"{base}/realms/{realm}", "realm": realm,
            "verify": verify,
            "password": context.resolve(inv_host, "vault_sandbox_user_password"),
            "lockout_after": int((inv_host.vars.get("keycloak_brute_force") or {}).get(
                "failure_factor", 5)),
            # Test users the inventory declares, and whether it went through an upgrade.
            "users": {u.get("username") for u in inv_host.vars.get("keycloak_users") or []
                      if isinstance(u, dict)},
            "upgraded_from": inv_host.vars.get("keycloak_previous_version"),
            "management": management_url(host, int(inv_host.vars.get(
                "keycloak_management_port", 9000))),
        }


def management_url(host, port: int) -> str:
    """Where Keycloak's management interface (health, metrics) answers, asked of the host:
    the address it listens on (loopback, or the private address where monitoring hosts
    scrape it), loopback when it listens on every address or is not running."""
    fields = host.run(f"ss -Hltn 'sport = :{port}'").stdout.split()
    bound = fields[3].rsplit(":", 1)[0].strip("[]") if len(fields) > 3 else ""
    bound = bound.removeprefix("::ffff:")
    if bound in ("", "*", "0.0.0.0", "::"):  # noqa: S104 - recognised, not bound
        bound = "127.0.0.1"
    return f"http://{bound}:{port}"


def admin(host_name: str, method: str, path: str, body: dict | None = None,
          ok=("2",)) -> tuple[str, str]:
    """Keycloak's admin REST API, called on the host itself (port 8080 is loopback only)
    with a fresh admin token; (HTTP status, body). Statuses not starting with one of
    ``ok`` raise :class:`Failed`."""
    inv_host = context.inventory().hosts[host_name]
    user = context.resolve(inv_host, "keycloak_admin_user") or "sovctl-admin"
    # keycloak_admin_password is a role default: the inventory holds the vault's value.
    password = (context.resolve(inv_host, "keycloak_admin_password")
                or context.resolve(inv_host, "vault_keycloak_admin_password"))
    host = context.testinfra_host(host_name)
    base = "http://127.0.0.1:8080"

    def call(command: str, what: str) -> str:
        # The command carries the admin password or token: a failure says what failed and
        # curl's own message, never the command (a report would show it).
        result = host.run(command)
        if result.rc != 0:
            raise Failed(f"{what}: curl exit {result.rc}: "
                         f"{result.stderr.strip().splitlines()[-1:]}")
        return result.stdout

    # The password reaches curl on its standard input (printf is the shell's builtin), so
    # it is not in curl's arguments, which every user of the host can read while it runs.
    token = json.loads(call(
        f"printf '%s' {shlex.quote(password)} | curl -fsS " + " ".join(shlex.quote(a) for a in [
            "-d", "grant_type=password", "-d", "client_id=admin-cli",
            "--data-urlencode", f"username={user}", "--data-urlencode", "password@-",
            f"{base}/realms/master/protocol/openid-connect/token"]),
        f"an admin token for {user} on {host_name}"))["access_token"]
    args = ["-sS", "-o", "/dev/stdout", "-w", "\\n%{http_code}", "-X", method,
            "-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/json"]
    if body is not None:
        args += ["--data-binary", json.dumps(body)]
    out = call("curl " + " ".join(shlex.quote(a) for a in [*args, base + path]),
               f"{method} {path} on {host_name}")
    text, _, status = out.rpartition("\n")
    status = status.strip()
    expect(status.startswith(tuple(ok)), f"{method} {path}: HTTP {status} {text[:500]}")
    return status, text


def _discovery(kc):
    import requests

    r = requests.get(f"{kc['issuer']}/.well-known/openid-configuration", verify=kc["verify"],
                     timeout=10)
    r.raise_for_status()
    return r.json()


def _at(origin: str | None, url: str) -> str:
    """``url`` sent to another origin (a cluster node's own HTTP port), path and query kept."""
    if not origin:
        return url
    parts = urlsplit(url)
    return origin.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")


# How long the login page and form may take, as a patient browser would wait: the first
# login after a (re)start renders the theme cold, which took over 15 s on a busy 2-core
# test machine right after a restore.
PAGE_TIMEOUT = 60


def login(kc, username: str, password: str, *, start: str | None = None,
          submit: str | None = None, exchange: str | None = None):
    """Authorization code flow with PKCE, submitting Keycloak's login form like a browser.

    Returns (token dict, None) on success or (None, the login page's error text).
    ``start``, ``submit`` and ``exchange`` (origins such as ``http://10.88.0.5:8080``)
    send the authorization request, the login form and the code exchange to given
    Keycloak nodes instead of the public URL: a cluster probe starts a login on one
    node and finishes it on another. The browser's cookies go along explicitly, as
    Keycloak marks them Secure and the nodes speak plain HTTP. ``kc["client_id"]`` and
    ``kc["redirect_uri"]`` name another public client than ``sovctl-check``.
    """
    import requests
    from authlib.common.security import generate_token
    from authlib.integrations.requests_client import OAuth2Session

    meta = _discovery(kc)
    verifier = generate_token(48)
    nonce = secrets.token_urlsafe(16)
    client_id, redirect_uri = kc.get("client_id", CLIENT_ID), kc.get("redirect_uri", REDIRECT_URI)
    oauth = OAuth2Session(client_id, redirect_uri=redirect_uri, scope="openid email profile",
                          code_challenge_method="S256")
    oauth.verify = kc["verify"]
    url, state = oauth.create_authorization_url(meta["authorization_endpoint"],
                                                code_verifier=verifier, nonce=nonce)
    # verify= on every call: requests lets REQUESTS_CA_BUNDLE override Session.verify.
    browser = requests.Session()
    page = browser.get(_at(start, url), timeout=PAGE_TIMEOUT, verify=kc["verify"])
    page.raise_for_status()
    action = re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', page.text)
    expect(action, "no login form on Keycloak's page")
    cookies = ({"Cookie": "; ".join(f"{c.name}={c.value}" for c in browser.cookies)}
               if start or submit else {})
    resp = browser.post(_at(submit, html.unescape(action.group(1))), allow_redirects=False,
                        timeout=PAGE_TIMEOUT, verify=kc["verify"], headers=cookies,
                        data={"username": username, "password": password, "credentialId": ""})
    location = resp.headers.get("Location", "")
    if resp.status_code != 302 or not location.startswith(redirect_uri):
        # The page's visible text: Keycloak's themes differ in markup, not in wording.
        text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", resp.text)).split())
        if not text and location:  # where Keycloak sent the form instead (path, no query)
            text = f"HTTP {resp.status_code} to {urlsplit(location).path}"
        return None, (text or f"HTTP {resp.status_code}")
    params = parse_qs(urlsplit(location).query)
    expect(params.get("state") == [state],
           f"the redirect back carries state {params.get('state')}, not the one sent")
    token = oauth.fetch_token(_at(exchange, meta["token_endpoint"]),
                              authorization_response=location, code_verifier=verifier,
                              verify=kc["verify"])
    token["nonce"] = nonce
    return token, None


def verified_claims(kc, token):
    import requests
    from authlib.jose import JsonWebKey, jwt

    meta = _discovery(kc)
    jwks = requests.get(meta["jwks_uri"], verify=kc["verify"], timeout=10).json()
    claims = jwt.decode(token["id_token"], JsonWebKey.import_key_set(jwks),
                        claims_options={"iss": {"essential": True, "value": kc["issuer"]},
                                        "aud": {"essential": True,
                                                "value": kc.get("client_id", CLIENT_ID)}})
    claims.validate()
    return claims


@suite.probe
def discovery_is_served_over_tls_with_the_right_issuer(kc) -> str:
    meta = _discovery(kc)
    expect(meta["issuer"] == kc["issuer"],
           f"discovery names issuer {meta['issuer']!r}, expected {kc['issuer']!r}")
    expect(meta["authorization_endpoint"].startswith(kc["issuer"] + "/"),
           f"authorization endpoint {meta['authorization_endpoint']!r} is not under "
           f"{kc['issuer']!r}")
    expect("S256" in meta["code_challenge_methods_supported"],
           f"PKCE methods offered: {meta['code_challenge_methods_supported']}, no S256")
    return f"discovery over TLS: issuer {meta['issuer']}, PKCE S256 offered"


@suite.probe
def plain_http_is_redirected_to_https(kc) -> str:
    return redirects_to_https(f"http://{urlsplit(kc['base']).hostname}/realms/{kc['realm']}")


@suite.probe
def hsts_is_sent(kc) -> str:
    import requests

    r = requests.get(f"{kc['issuer']}/.well-known/openid-configuration", verify=kc["verify"],
                     timeout=10)
    hsts = r.headers.get("Strict-Transport-Security", "")
    expect("max-age=" in hsts, f"Strict-Transport-Security: {hsts!r}")
    return f"Strict-Transport-Security: {hsts}"


def need_user(kc, name: str) -> None:
    if name not in kc["users"] or not kc["password"]:
        raise Skipped(f"test user {name!r} is not declared in keycloak_users of this inventory")


@suite.probe
def user_logs_in_with_pkce_and_the_id_token_verifies(kc) -> str:
    need_user(kc, "alice")
    token, error = login(kc, "alice", kc["password"])
    expect(error is None, f"alice's login failed: {error}")
    claims = verified_claims(kc, token)
    expect(claims["preferred_username"] == "alice",
           f"preferred_username is {claims['preferred_username']!r}, not 'alice'")
    expect(claims["email"] == "alice@sandbox.test",
           f"email is {claims['email']!r}, not 'alice@sandbox.test'")
    expect(claims["nonce"] == token["nonce"], "the id_token's nonce is not the one sent")
    expect(claims["azp"] == CLIENT_ID, f"azp is {claims['azp']!r}, not {CLIENT_ID!r}")
    return "alice: PKCE login ok, id_token verified against JWKS (iss, aud, nonce, azp, email)"


@suite.probe
def wrong_password_fails(kc) -> str:
    need_user(kc, "alice")
    token, error = login(kc, "alice", "not-" + kc["password"])
    expect(token is None, "a wrong password for alice gave tokens")
    expect("Invalid username or password" in error,
           f"a wrong password for alice: {error!r}, not 'Invalid username or password'")
    return "a wrong password for alice: Invalid username or password"


@suite.probe
def account_is_locked_after_repeated_failures(kc) -> str:
    need_user(kc, "mallory")
    for attempt in range(kc["lockout_after"]):
        token, _error = login(kc, "mallory", "wrong-" + kc["password"])
        expect(token is None, f"wrong password attempt {attempt + 1} for mallory gave tokens")
    token, error = login(kc, "mallory", kc["password"])
    expect(token is None, "the right password still worked after the failures: no lockout")
    return (f"after {kc['lockout_after']} wrong passwords the right one is refused "
            f"({error})")


@suite.probe
def user_created_before_the_upgrade_still_logs_in(kc) -> str:
    if not kc["upgraded_from"]:
        raise Skipped("this inventory records no upgrade (keycloak_previous_version is unset)")
    token, error = login(kc, "upgrade-survivor", kc["password"])
    expect(error is None, f"upgrade-survivor's login failed: {error}")
    got = verified_claims(kc, token)["preferred_username"]
    expect(got == "upgrade-survivor", f"preferred_username is {got!r}, not 'upgrade-survivor'")
    return (f"upgrade-survivor (created before the upgrade from {kc['upgraded_from']}) "
            "logs in, id_token verified")


@suite.probe
def users_survive_a_restart(kc) -> str:
    need_user(kc, "alice")
    for command in ("systemctl restart keycloak",
                    "timeout 300 sh -c 'until curl -fsS "
                    f"{kc['management']}/health/ready >/dev/null; do sleep 3; done'"):
        result = kc["host"].run(command)
        expect(result.rc == 0, f"{command}: exit {result.rc} {result.stderr.strip()[-500:]}")
    token, error = login(kc, "alice", kc["password"])
    expect(error is None, f"alice's login after the restart failed: {error}")
    return "keycloak restarted, ready again, alice logs in"


@suite.probe
def health_is_green_from_the_keycloak_host(kc) -> str:
    out = kc["host"].check_output(f"curl -fsS {kc['management']}/health/ready")
    expect('"status": "UP"' in out or '"status":"UP"' in out, f"health/ready: {out[:500]}")
    return f"{kc['management']}/health/ready: UP"


@suite.probe
def admin_console_is_not_proxied(kc) -> str:
    import requests

    url = f"{kc['base']}/admin/master/console/"
    r = requests.get(url, verify=kc["verify"], timeout=10)
    expect(r.status_code == 404, f"{url} answered HTTP {r.status_code}")
    return f"{url}: 404"


@suite.probe
def management_database_and_http_ports_are_closed_to_other_hosts(kc) -> str:
    probes = context.hosts("identity_probe")
    if not probes:
        raise Skipped("no host in group identity_probe to probe reachability from")
    probe = context.testinfra_host(probes[0].name)
    for port in (9000, 5432, 8080):
        result = probe.run(f"timeout 5 bash -c '</dev/tcp/{kc['address']}/{port}'")
        expect(result.rc != 0,
               f"port {port} of {kc['name']} is reachable from {probes[0].name}")
    expect(probe.run(f"timeout 5 bash -c '</dev/tcp/{kc['address']}/443'").rc == 0,
           f"port 443 of {kc['name']} is not reachable from {probes[0].name}")
    return f"from {probes[0].name}: 9000, 5432, 8080 closed, 443 open"
