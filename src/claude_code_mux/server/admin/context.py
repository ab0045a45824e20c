"""What every admin handler needs: the runtime holder, the admin's own per-app state, and JSON replies."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:
    from claude_code_mux.auth.login import PendingLogins
    from claude_code_mux.server.admin.logins import AdminLogins
    from claude_code_mux.server.state import RuntimeHolder


@dataclass
class AdminState:
    """Per-application admin state, created on first use and kept on ``app.state.admin``."""

    started_at: float
    edit_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    signing_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))  # device-page cookie
    pending: PendingLogins | None = None  # OAuth logins in progress (the token manager outlives reloads)
    logins: AdminLogins | None = None  # ChatGPT and Gemini CLI logins in progress, with their loopback listeners


def holder_of(request: Request) -> RuntimeHolder:
    holder: RuntimeHolder = request.app.state.holder
    return holder


def admin_state(request: Request) -> AdminState:
    state = request.app.state
    admin: AdminState | None = getattr(state, "admin", None)
    if admin is None:
        # The server's start: app.state.started_at when the app sets it, else when the observer hub was made.
        started = getattr(state, "started_at", None) or holder_of(request).observers.created_at
        admin = AdminState(started_at=float(started))
        state.admin = admin
    return admin


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(data),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store", **(headers or {})},
    )
