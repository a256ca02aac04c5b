"""Two ASGI guards around the application (issue 25): a request whose body stops arriving is
answered 408 and its connection closed after ``--body-timeout`` seconds, instead of holding
the connection as long as the client likes; and an error the application already answered
(500 with an OperationOutcome) is not raised on to uvicorn, which would close the keep-alive
connection under the client's next request (a reset).
"""

from __future__ import annotations

import asyncio
import logging

from adapter.service.guards import ASGIApp, Message, Receive, Scope, Send, _refuse

logger = logging.getLogger("adapter.service")
DEFAULT_BODY_TIMEOUT = 30.0


class BodyTimedOut(Exception):
    """The client stopped sending the request body."""


class BodyTimeout:
    """Each wait for a piece of the request body lasts at most ``seconds``."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def timed_receive() -> Message:
            try:
                return await asyncio.wait_for(receive(), self.seconds)
            except TimeoutError:
                raise BodyTimedOut from None

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started |= message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, timed_receive, tracking_send)
        except BodyTimedOut:
            if not started:
                await _refuse(send, 408, self.message(), "timeout",
                              [(b"connection", b"close")])

    def message(self) -> str:
        return (f"the request body did not arrive within {self.seconds:g} s "
                "(--body-timeout)")


class AnsweredErrors:
    """An exception the application raises after it answered (FastAPI's error middleware
    sends the 500 and raises again, for servers to log) is logged there already: it ends
    here, so uvicorn keeps the connection. One raised before any answer goes on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        finished = False

        async def tracking_send(message: Message) -> None:
            nonlocal finished
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True

        try:
            await self.app(scope, receive, tracking_send)
        except (BodyTimedOut, asyncio.CancelledError):
            raise
        except Exception:
            if not finished:
                raise
