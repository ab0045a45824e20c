"""The device-login page of the original Anthropic OAuth proxy: start, open the link, paste ``code#state``.

Besides Claude it offers the ChatGPT and Gemini CLI logins (``"provider"`` in the start body), each with its
terms-of-service notice shown before the start; those may also complete by themselves through their loopback
listener (``GET /auth/device/result`` says so), else the address the browser ended on is pasted.

The page itself is ``ui/device.html`` (+ ``device.js``), styled like the admin UI. A signed, httpOnly session
cookie ties the start and submit steps together (the pasted state must match the one this browser started);
the PKCE verifier stays on the server. Access is the admin API's (loopback or ``server.admin_key``).
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from claude_code_mux.errors import InvalidRequest
from claude_code_mux.server.admin.context import admin_state, json_response
from claude_code_mux.server.admin.guard import check_access, guard
from claude_code_mux.server.admin.oauth import (
    complete_login,
    iso,
    manager,
    read_oauth,
    refresh_login,
    start_login,
)
from claude_code_mux.server.admin.schemas import DeviceProviderIn, DeviceStartIn, DeviceSubmitIn
from claude_code_mux.server.admin.ui import ui_file
from claude_code_mux.server.admin.view import token_rows

COOKIE = "ccm_device_session"
COOKIE_PATH = "/auth"


def _sign(key: bytes, value: str) -> str:
    return value + "." + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def _unsign(key: bytes, signed: str | None) -> str | None:
    if not signed or "." not in signed:
        return None
    value, _, sig = signed.rpartition(".")
    good = hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
    return value if hmac.compare_digest(sig, good) else None


async def page(request: Request) -> Response:
    check_access(request)
    return ui_file("device.html")


async def start(request: Request) -> Response:
    guard(request)
    body = await read_oauth(request, DeviceStartIn)
    started = await start_login(request, body.provider, body.provider_id, "max", body.project)
    shown = {k: started[k] for k in ("url", "instructions", "notice", "listening", "redirect_uri") if k in started}
    resp = json_response(shown)
    resp.set_cookie(
        COOKIE,
        _sign(admin_state(request).signing_key, str(started["state"])),
        httponly=True,
        samesite="strict",
        path=COOKIE_PATH,
        max_age=600,
        secure=request.url.scheme == "https",
    )
    return resp


async def submit(request: Request) -> Response:
    guard(request)
    code = (await read_oauth(request, DeviceSubmitIn)).code.strip()
    state = _unsign(admin_state(request).signing_key, request.cookies.get(COOKIE))
    if state is None:
        raise InvalidRequest('no login in progress in this browser: press "Start authorization" first')
    record = await complete_login(request, code, state, None)
    resp = json_response({"success": True, "provider_id": record.provider_id, "expires_at": iso(record.expires_at)})
    resp.delete_cookie(COOKIE, path=COOKIE_PATH)
    return resp


async def result(request: Request) -> Response:
    """How this browser's login stands (a ChatGPT or Gemini login may complete through its loopback listener)."""
    guard(request)
    state = _unsign(admin_state(request).signing_key, request.cookies.get(COOKIE))
    ours = admin_state(request).logins
    return json_response(ours.result(state) if ours is not None and state is not None else {"status": "unknown"})


async def status(request: Request) -> Response:
    check_access(request)
    mgr = manager(request)
    return json_response(token_rows(await mgr.status(), await mgr.store.all()))


async def refresh(request: Request) -> Response:
    guard(request)
    pid = (await read_oauth(request, DeviceProviderIn)).provider_id
    await refresh_login(request, pid)
    return json_response({"success": True, "provider_id": pid})


async def logout(request: Request) -> Response:
    guard(request)
    pid = (await read_oauth(request, DeviceProviderIn)).provider_id
    removed = await manager(request).delete(pid)
    resp = json_response({"success": removed, "provider_id": pid})
    resp.delete_cookie(COOKIE, path=COOKIE_PATH)
    return resp


def routes() -> list[BaseRoute]:
    return [
        Route("/auth/device", page, methods=["GET"]),
        Route("/auth/device/start", start, methods=["POST"]),
        Route("/auth/device/submit", submit, methods=["POST"]),
        Route("/auth/device/result", result, methods=["GET"]),
        Route("/auth/status", status, methods=["GET"]),
        Route("/auth/refresh", refresh, methods=["POST"]),
        Route("/auth/logout", logout, methods=["POST"]),
    ]
