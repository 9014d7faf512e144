"""Filters of the collabora role (no dependency on sovctl: plain Ansible runs the role too)."""

from __future__ import annotations

import hashlib
from xml.sax.saxutils import escape, quoteattr

# coolconfig's set-admin-password writes "pbkdf2.sha512.<iterations>.<salt hex>.<hash hex>"
# and coolwsd checks a login against it with PKCS5_PBKDF2_HMAC(SHA-512); salt and hash
# lengths are read from the value itself.
ADMIN_HASH_ITERATIONS = 100_000
ADMIN_SALT_BYTES = 64
ADMIN_HASH_BYTES = 64


def collabora_admin_hash(password, salt_seed, iterations=ADMIN_HASH_ITERATIONS):
    """The admin password in coolwsd's secure_password form, the same on every run.

    coolconfig draws a random salt, so its output changes each time; this salt is
    derived from ``salt_seed`` (host and user name: unique per host, never from the
    password), which keeps the setting idempotent. The password comes from the vault
    (32 random characters), so a known salt does not make it guessable.
    """
    if not password:
        raise ValueError("collabora_admin_hash: the password is empty")
    salt = hashlib.sha512(f"sovctl coolwsd admin salt\0{salt_seed}".encode()).digest()
    salt = salt[:ADMIN_SALT_BYTES]
    digest = hashlib.pbkdf2_hmac("sha512", str(password).encode(), salt, int(iterations),
                                 ADMIN_HASH_BYTES)
    return f"pbkdf2.sha512.{int(iterations)}.{salt.hex()}.{digest.hex()}"


def collabora_admin_hash_matches(secure_password, password):
    """Whether ``password`` logs in against a secure_password value (as coolwsd checks it)."""
    parts = str(secure_password).split(".")
    if len(parts) != 5 or parts[0] != "pbkdf2" or parts[1] != "sha512":
        return False
    salt, expected = bytes.fromhex(parts[3]), bytes.fromhex(parts[4])
    got = hashlib.pbkdf2_hmac("sha512", str(password).encode(), salt, int(parts[2]),
                              len(expected))
    return got == expected


def collabora_alias_group(wopi_host):
    """One storage.wopi.alias_groups <group> of coolwsd.xml for a WOPI host.

    ``wopi_host`` is ``{url, aliases}`` (or just the URL): the host is allowed, the
    aliases are other names of the same service.
    """
    if isinstance(wopi_host, str):
        wopi_host = {"url": wopi_host}
    url = str(wopi_host["url"]).rstrip("/")
    parts = [f'<host desc="hostname to allow or deny." allow="true">{escape(url)}</host>']
    for alias in wopi_host.get("aliases") or []:
        parts.append(f'<alias desc="regex pattern of aliasname">{escape(str(alias))}</alias>')
    return "<group>" + "".join(parts) + "</group>"


def collabora_primary_fingerprints(colons):
    """Fingerprints of the primary keys in `gpg --show-keys --with-colons` output."""
    found, previous = [], ""
    for line in str(colons).splitlines():
        fields = line.split(":")
        if fields[0] == "fpr" and previous == "pub" and len(fields) > 9:
            found.append(fields[9].upper())
        if fields[0] in ("pub", "sub", "sec", "ssb", "uid", "fpr", "grp"):
            previous = fields[0]
    return found


def collabora_xml_attr(value):
    """A value as a quoted XML attribute."""
    return quoteattr(str(value))


class FilterModule:
    def filters(self):
        return {
            "collabora_admin_hash": collabora_admin_hash,
            "collabora_admin_hash_matches": collabora_admin_hash_matches,
            "collabora_alias_group": collabora_alias_group,
            "collabora_primary_fingerprints": collabora_primary_fingerprints,
            "collabora_xml_attr": collabora_xml_attr,
        }
