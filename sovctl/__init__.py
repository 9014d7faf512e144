"""sovctl: deploy, verify and audit a sovereign collaboration stack."""

__version__ = "0.1.0"
