"""Checks of a deployed stack, shared by molecule, the sandbox and `sovctl verify`.

Each module is a pytest (testinfra) module for one service. They read the
inventory named by $SOVCTL_VERIFY_INVENTORY (set by `sovctl verify`) or
$MOLECULE_INVENTORY_FILE (set by molecule) and exercise the services from
outside, as clients would.
"""
