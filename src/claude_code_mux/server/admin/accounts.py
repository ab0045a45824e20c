"""``GET /api/accounts``: every pooled account's quota windows, state and pinned sessions (what ``ccm accounts``
and the UI overview show), from the account router's in-memory book — no upstream call."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from claude_code_mux.accounts.report import snapshot
from claude_code_mux.server.admin.context import holder_of, json_response
from claude_code_mux.server.admin.guard import guard


async def handle_accounts(request: Request) -> Response:
    guard(request)
    holder = holder_of(request)
    router = holder.current.accounts
    rows = snapshot(router) if router is not None else []
    poller = holder.poller
    return json_response(
        {
            "accounts": rows,
            "now": router.clock() if router is not None else None,
            "poll_usage_s": poller.every_s if poller is not None else 0,
        }
    )


def routes() -> list[BaseRoute]:
    return [Route("/api/accounts", handle_accounts, methods=["GET"])]
