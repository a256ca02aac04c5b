"""No secret in any log line: the filter on the HTTP libraries' loggers and on handlers."""

from __future__ import annotations

import io
import logging

import pytest

from adapter.fhir.redaction import SecretFilter, guard_logs, redact_text


@pytest.mark.parametrize(("text", "expected"), [
    ('http://h:80 "GET /fhir/Claim?page=2&access_token=abc.def HTTP/1.1" 200 123',
     'http://h:80 "GET /fhir/Claim?page=2&access_token=*** HTTP/1.1" 200 123'),
    ("/token?client_secret=x1&scope=a", "/token?client_secret=***&scope=a"),
    ("?ACCESS_TOKEN=abc&x=1", "?ACCESS_TOKEN=***&x=1"),
    ("Authorization: Bearer eyJhbGciOi.payload.sig", "Authorization: Bearer ***"),
    ("https://svc:hunter2@fhir.test/fhir", "https://fhir.test/fhir"),
    ("/Observation?code=http://loinc.org|2132-9&_count=100",
     "/Observation?code=http://loinc.org|2132-9&_count=100"),  # FHIR `code` is no secret
    ("id_token_hint=1 and mytoken=2", "id_token_hint=1 and mytoken=2"),
])
def test_redact_text(text, expected):
    assert redact_text(text) == expected


@pytest.fixture
def capture():
    """``capture(logger name, on_handler=...)``: the logger, writing to a string only."""
    touched: list[tuple[logging.Logger, int]] = []

    def make(logger_name: str, *, on_handler: bool) -> tuple[logging.Logger, io.StringIO]:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        logger = logging.getLogger(logger_name)
        touched.append((logger, logger.level))
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        guard_logs([handler] if on_handler else [])
        return logger, stream

    yield make
    for logger, level in touched:
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(level)


def test_urllib3s_request_line_is_redacted_on_its_own_logger(capture):
    logger, stream = capture("urllib3.connectionpool", on_handler=False)
    logger.debug('%s://%s:%s "%s %s %s" %s %s', "http", "127.0.0.1", 8080, "GET",
                 "/fhir/Claim?page=2&access_token=abc", "HTTP/1.1", 200, 10)
    assert stream.getvalue().strip() == (
        'http://127.0.0.1:8080 "GET /fhir/Claim?page=2&access_token=*** HTTP/1.1" 200 10')


def test_a_guarded_handler_redacts_records_of_any_logger_and_their_tracebacks(capture):
    logger, stream = capture("some.library.nobody.guards", on_handler=True)
    try:
        raise ValueError("GET https://h/fhir?token=zzz failed")
    except ValueError:
        logger.exception("while reading %s", "https://h/fhir?access_token=yyy")
    written = stream.getvalue()
    assert "yyy" not in written and "zzz" not in written
    assert "access_token=***" in written and "token=***" in written


def test_guarding_twice_adds_one_filter():
    guard_logs()
    guard_logs()
    assert sum(isinstance(f, SecretFilter) for f in logging.getLogger("urllib3").filters) == 1
