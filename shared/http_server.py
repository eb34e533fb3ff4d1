"""An HTTP server (uvicorn) inside the service's own event loop, started and stopped with it,
counting the requests it answers (`careplan_http_requests_total`)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterator

import structlog
import uvicorn
from fastapi import FastAPI, Request, Response

from shared.metrics import HTTP_REQUESTS

log = structlog.get_logger(__name__)


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The FastStream app owns SIGTERM and SIGINT; it stops this server in its shutdown.
        yield


class HttpServer:
    def __init__(self, app: FastAPI, *, service: str, host: str, port: int) -> None:
        async def count(
            request: Request, call_next: Callable[[Request], Awaitable[Response]]
        ) -> Response:
            response = await call_next(request)
            # The route's template, not the path: one series per route, not per SN.
            route = getattr(request.scope.get("route"), "path", "unmatched")
            HTTP_REQUESTS.labels(service, route, str(response.status_code)).inc()
            return response

        app.middleware("http")(count)
        self._service = service
        self._app = app
        self._host = host
        self._port = port
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bind (a taken port fails the start, with the address), then serve until stopped."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self._host, self._port))
        except OSError as error:
            listener.close()
            raise RuntimeError(f"cannot listen on {self._host}:{self._port}: {error}") from error
        listener.listen(128)
        config = uvicorn.Config(
            self._app, lifespan="off", log_config=None, log_level="warning", access_log=False
        )
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(
            self._server.serve([listener]), name=f"{self._service}-http"
        )
        while not self._server.started:  # uvicorn sets a flag, it has no event to await
            if self._task.done():
                self._task.result()
                raise RuntimeError("the HTTP server stopped while starting")
            await asyncio.sleep(0.01)
        log.info("http_listening", host=self._host, port=self._port)

    async def stop(self) -> None:
        """Finish the requests in flight, then stop listening."""
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await asyncio.gather(self._task, return_exceptions=True)
        log.info("http_stopped")
