"""The dashboard's pages: server-rendered (Jinja2), refreshed in place by htmx, which is served
from the project like every other asset, so that a machine without internet sees it whole."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import escape

HERE = Path(__file__).parent
COOKIE = "careplan-operator"
HTMX = "htmx-2.0.11.min.js"

Board = Callable[[], Awaitable[dict[str, Any]]]
Replay = Callable[[str, int, int, str], Awaitable[str]]


def _signature(token: str, operator: str) -> str:
    return hmac.new(token.encode(), operator.encode(), hashlib.sha256).hexdigest()


def create_dashboard(token: Callable[[], str], board: Board, replay: Replay) -> FastAPI:
    """`token()` is what an operator logs in with; `board()` gives what the panels show;
    `replay(topic, partition, offset, operator)` replays one dead letter and says how it went."""
    api = FastAPI(title="careplan operations", docs_url=None, redoc_url=None, openapi_url=None)
    api.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")

    def operator(request: Request) -> str | None:
        name, _, signature = request.cookies.get(COOKIE, "").partition("|")
        if name and hmac.compare_digest(signature, _signature(token(), name)):
            return name
        return None

    @api.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request) -> Response:
        return templates.TemplateResponse(request, "login.html", {"htmx": HTMX, "failed": False})

    @api.post("/login", response_class=HTMLResponse)
    async def log_in(request: Request) -> Response:
        form = parse_qs((await request.body()).decode())
        name = form.get("operator", [""])[0].strip()[:64]
        given = form.get("token", [""])[0]
        if not name or "|" in name or not hmac.compare_digest(given, token()):
            return templates.TemplateResponse(
                request, "login.html", {"htmx": HTMX, "failed": True}, status_code=401
            )
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            COOKIE, f"{name}|{_signature(token(), name)}", httponly=True, samesite="strict"
        )
        return response

    @api.get("/", response_class=HTMLResponse)
    async def dashboard(request: Request) -> Response:
        who = operator(request)
        if who is None:
            return RedirectResponse("/login", status_code=303)
        context = {"htmx": HTMX, "operator": who} | await board()
        return templates.TemplateResponse(request, "dashboard.html", context)

    @api.get("/panels", response_class=HTMLResponse)
    async def panels(request: Request) -> Response:
        if operator(request) is None:
            return Response("log in again", status_code=401)
        return templates.TemplateResponse(request, "panels.html", await board())

    @api.post("/dead-letters/{topic}/{partition}/{offset}/replay", response_class=HTMLResponse)
    async def replay_dead_letter(
        request: Request, topic: str, partition: int, offset: int
    ) -> Response:
        who = operator(request)
        if who is None:
            return Response("log in again", status_code=401)
        outcome = await replay(topic, partition, offset, who)
        return HTMLResponse(f'<span class="replayed">{_escape(outcome)}</span>')

    return api


def _escape(text: str) -> str:
    return str(escape(text))
