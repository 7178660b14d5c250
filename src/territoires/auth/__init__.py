"""Identity, roles, quotas and audit: who calls, and what they may do. Consulted at the edge
(``api/``, ``ingest/``, ``web/``) through one enforcement point, :mod:`territoires.auth.gate`."""
