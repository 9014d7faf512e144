"""The data-residency audit: where every host and every external endpoint is.

- ``catalogue``: the reference data (providers, endpoints, endpoint variables, policies);
- ``hostvars``: the inventory read as Ansible merges it (fast path for large inventories);
- ``inputs``: host residency facts and the endpoint values the roles will render;
- ``targets``, ``locate``, ``geoip``: endpoint values parsed, redacted and located;
- ``rules``, ``engine``: the findings and the report dict (the contract in docs/architecture.md);
- ``live``, ``observed``: what the hosts really use (``--live``) and how it compares;
- ``origin``: which inventory file sets a variable (messages and SARIF locations);
- ``reports``: table, json, csv, sarif, html;
- ``service``: ``sovctl audit`` as a plain function.
"""
