"""An ASGI guard around the application (issue 25): an error the application already answered
(500 with an OperationOutcome) is not raised on to uvicorn, which would close the keep-alive
connection under the client's next request (a reset). (A body that stops arriving is
``guards.BodyLimit``'s: 408 after ``--body-timeout``.)
"""

from __future__ import annotations

import asyncio
import logging

from adapter.service.guards import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("adapter.service")


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
        except asyncio.CancelledError:
            raise
        except Exception:
            if not finished:
                raise
