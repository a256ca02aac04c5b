"""A real FHIR server process on 127.0.0.1 for the integration tests.

``fhir_server`` (session scope) yields the base URL, ``http://127.0.0.1:PORT/fhir/R4``.
Its MemoryRepository is shared by every test of the session: tests use their own ids and
identifiers. If the server cannot be installed or started the fixture raises, so the tests
fail: they never skip.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fhir_server_process import running_fhir_server


@pytest.fixture(scope="session")
def fhir_server() -> Iterator[str]:
    """One server for the session: tests use their own ids, so they do not see each other."""
    with running_fhir_server() as base_url:
        yield base_url


@pytest.fixture
def fresh_fhir_server() -> Iterator[str]:
    """An empty server of its own, for tests that look at every claim on it (sync)."""
    with running_fhir_server() as base_url:
        yield base_url
