"""ASGI middleware in front of every endpoint: request ids and the request log line, caller
authentication, and the request size limit. Each answers refusals itself, with an
OperationOutcome, before the application reads a byte of the body.

Callers authenticate with a bearer token (``--api-token-env`` / ``--api-token-file``, compared
in constant time) and/or a client certificate checked by a TLS-terminating proxy, which
passes the certificate's subject in a header it sets (``--client-cert-header``; the proxy must
drop that header from incoming requests). ``/health`` and ``/ready`` are open, for probes,
and so are ``/metadata`` and the OperationDefinition (FHIR clients read them first).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import anyio
from anyio import to_thread

from adapter.service import metrics
from adapter.service.cds_auth import TokenRefused
from adapter.service.logs import new_request_id, request_id
from adapter.service.outcome import FHIR_JSON, operation_outcome
from adapter.service.settings import token_matches

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# probes, and what a FHIR client reads to discover the operation (no PHI in either)
OPEN_PATHS = frozenset({"/health", "/ready", "/metadata", "/OperationDefinition/b12-check"})
UNTHROTTLED = frozenset({"/health", "/ready", "/metrics"})
CDS_PREFIX = "/cds-services"
logger = logging.getLogger("adapter.service.access")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def _refuse(send: Send, status: int, message: str, code: str,
                  headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(operation_outcome(message, code)).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", FHIR_JSON.encode()), (b"content-length", str(len(body)).encode()),
        *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class RequestLog:
    """Gives each request an id (X-Request-ID honoured, echoed back) and logs one line when it
    ends: method, path (no query string), status, duration, and the caller's certificate
    subject when a proxy vouches for one."""

    def __init__(self, app: ASGIApp, cert_header: str | None = None,
                 routes: Sequence[Any] = ()) -> None:
        self.app = app
        self.cert_header = cert_header.lower().encode() if cert_header else None
        self.routes = routes  # the application's, for the route template of /metrics labels

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = new_request_id(_header(scope, b"x-request-id"))
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", rid.encode())]
            await send(message)

        metrics.IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            metrics.IN_FLIGHT.dec()
            seconds = time.perf_counter() - started
            metrics.observe_request(metrics.route_of(scope, self.routes), scope["method"],
                                    status, seconds)
            line: dict[str, Any] = {
                "method": scope["method"], "path": scope["path"], "status": status,
                "ms": round(seconds * 1000, 2)}
            if self.cert_header and (subject := _header(scope, self.cert_header)):
                line["caller"] = subject
            logger.info("request", extra=line)
            request_id.reset(token)


class CallerAuth:
    """Bearer token and/or proxy-verified client certificate; 401/403 with an
    OperationOutcome. With neither configured every caller is let through.

    On ``/cds-services`` paths, with trusted CDS issuers configured, the bearer token may
    instead be the CDS client's signed JWT (``cds_auth.py``); without a static token those
    paths then need the JWT and the others stay as configured."""

    def __init__(self, app: ASGIApp, tokens: tuple[bytes, ...], cert_header: str | None,
                 allowed_subjects: tuple[str, ...], cds_verifier: Any = None,
                 public_url: str | None = None) -> None:
        self.app = app
        self.tokens = tokens
        self.cert_header = cert_header.lower().encode() if cert_header else None
        self.allowed = frozenset(allowed_subjects)
        self.cds_verifier = cds_verifier
        self.public_url = public_url.rstrip("/") if public_url else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS \
                or scope["method"] == "OPTIONS":  # CORS preflight carries no credentials
            await self.app(scope, receive, send)
            return
        cds = self.cds_verifier is not None and scope["path"].startswith(CDS_PREFIX)
        if self.tokens or cds:
            scheme, _, presented = (_header(scope, b"authorization") or "").partition(" ")
            presented = presented.strip()
            ok = scheme.lower() == "bearer" and bool(self.tokens) and token_matches(
                presented.encode(), self.tokens)
            reason = "a valid bearer token is required (Authorization: Bearer <token>)"
            if not ok and cds and scheme.lower() == "bearer" and presented:
                try:
                    await to_thread.run_sync(self.cds_verifier.verify, presented,
                                             self._audiences(scope))
                    ok = True
                except TokenRefused as exc:
                    reason = f"the CDS client's JWT is refused: {exc}"
                    logger.info("cds jwt refused", extra={"reason": str(exc)})
            if not ok:
                await _refuse(send, 401, reason, "login",
                              [(b"www-authenticate", b'Bearer realm="b12-adapter"')])
                return
        if self.cert_header:
            subject = _header(scope, self.cert_header)
            if not subject or (self.allowed and subject not in self.allowed):
                await _refuse(send, 403, "the client certificate is missing or not allowed",
                              "forbidden")
                return
        await self.app(scope, receive, send)

    def _audiences(self, scope: Scope) -> list[str]:
        """The URLs a CDS client may name in ``aud``: the endpoint called, and the
        discovery base (``--public-url`` when behind a proxy that rewrites the host)."""
        base = self.public_url or (
            f"{scope.get('scheme', 'http')}://{_header(scope, b'host') or 'localhost'}"
            f"{scope.get('root_path', '')}")
        return [base + scope["path"], base + CDS_PREFIX, base + CDS_PREFIX + "/"]


class Throttle:
    """At most ``limit`` requests being answered at once (per worker); past it, 429 with
    ``Retry-After`` at once, so a saturated service sheds load instead of queueing it.
    Probes and ``/metrics`` are never refused."""

    def __init__(self, app: ASGIApp, limit: int, retry_after: int = 1) -> None:
        self.app = app
        self.limit = limit
        self.retry_after = str(retry_after).encode()
        self.busy = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNTHROTTLED:
            await self.app(scope, receive, send)
            return
        if self.busy >= self.limit:
            metrics.REFUSED.labels("saturated").inc()
            await _refuse(send, 429, f"the service is answering {self.limit} requests "
                                     "(--max-concurrent); try again shortly", "throttled",
                          [(b"retry-after", self.retry_after)])
            return
        self.busy += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.busy -= 1


class BodyTooLarge(Exception):
    pass


class BodyTimeout(Exception):
    pass


class BodyLimit:
    """413 with an OperationOutcome for a body over ``limit`` bytes: at once when
    Content-Length says so, else as soon as the streamed body passes it."""

    def __init__(self, app: ASGIApp, limit: int, timeout: float | None = None) -> None:
        self.app = app
        self.limit = limit
        self.timeout = timeout  # seconds to read the whole body (a slow sender: 408)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared and declared.isdigit() and int(declared) > self.limit:
            await _refuse(send, 413, self._message(), "too-costly")
            return
        seen = 0
        started = False
        deadline = time.monotonic() + self.timeout if self.timeout else None
        reading = True

        async def counting_receive() -> Message:
            nonlocal seen, reading
            if deadline is not None and reading:
                try:
                    with anyio.fail_after(max(0.0, deadline - time.monotonic())):
                        message = await receive()
                except TimeoutError:
                    raise BodyTimeout from None
                reading = message["type"] == "http.request" and message.get("more_body", False)
            else:
                message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started |= message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _refuse(send, 413, self._message(), "too-costly")
        except BodyTimeout:  # the application's handler answers it when it reads the body
            metrics.REFUSED.labels("body-timeout").inc()
            if not started:
                await _refuse(send, 408, f"the request body was not received within "
                                         f"{self.timeout:g} s (--body-timeout)", "timeout",
                              [(b"connection", b"close")])

    def _message(self) -> str:
        return (f"the request body is over the limit of {self.limit} bytes (one claim and its "
                "evidence per request; --max-body-bytes)")
