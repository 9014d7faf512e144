"""Filters of the artifact role (no dependency on sovctl: plain Ansible runs the role too)."""

from __future__ import annotations

MAVEN_CENTRAL = "https://repo1.maven.org/maven2"


def artifact_maven_url(coordinates, repository=MAVEN_CENTRAL):
    """group:artifact:version[:extension[:classifier]] -> the file's URL in a Maven repository."""
    parts = str(coordinates).split(":")
    group, artifact, version = parts[:3]
    ext = parts[3] if len(parts) > 3 else "jar"
    classifier = f"-{parts[4]}" if len(parts) > 4 else ""
    return (f"{repository.rstrip('/')}/{group.replace('.', '/')}/{artifact}/{version}/"
            f"{artifact}-{version}{classifier}.{ext}")


def artifact_urls(entry, mirror="", maven_repository=MAVEN_CENTRAL):
    """Where a host downloads a catalogue entry from, in order.

    With a mirror: only <mirror>/<name>/<version>/<filename>. Without: the entry's
    url and maven sources in catalogue order (go-module sources are built by
    `sovctl mirror sync`, never on hosts).
    """
    if mirror:
        return [f"{str(mirror).rstrip('/')}/{entry['name']}/{entry['version']}/{entry['filename']}"]
    urls = []
    for src in entry.get("sources", []):
        if src.get("kind") == "url":
            urls.append(src["url"])
        elif src.get("kind") == "maven":
            urls.append(artifact_maven_url(src["coordinates"], maven_repository))
    return urls


class FilterModule:
    def filters(self):
        return {"artifact_urls": artifact_urls, "artifact_maven_url": artifact_maven_url}
