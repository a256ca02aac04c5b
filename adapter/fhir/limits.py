"""How far a client goes before it gives up: the defaults of ``--retry-budget`` and
``--max-pages`` (a module of their own, so the command line can show them without importing
the transport)."""

DEFAULT_RETRY_BUDGET = 120.0  # seconds for one request and its resent entries: two of
# Medplum's rate-limit windows (up to 60 s each, SERVERS.md)
DEFAULT_MAX_PAGES = 10_000  # pages one search may read: 1,000,000 claims at 100 a page
