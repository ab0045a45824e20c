"""Error middleware: every failure leaves as an Anthropic error envelope, never a traceback."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web

from claude_code_mux.errors import HttpError, error_body, error_type_for_status
from claude_code_mux.server.state import HOLDER

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(err: HttpError) -> web.Response:
    headers = dict(err.headers)
    return web.Response(status=err.status, body=err.body(), content_type="application/json", headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except HttpError as err:
        return error_response(err)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        status = exc.status
        if status == 404:
            msg = f"no such endpoint: {request.method} {request.path}"
        elif status == 405:
            msg = f"method {request.method} is not allowed on {request.path}"
        elif status == 413:
            msg = "request body is larger than server.max_body_bytes"
        else:
            msg = exc.text or exc.reason
        return web.Response(
            status=status,
            body=error_body(error_type_for_status(status), msg),
            content_type="application/json",
        )
    except Exception:
        rid = uuid.uuid4().hex[:12]
        request.app[HOLDER].logger.exception("internal error request_id=%s path=%s", rid, request.path)
        return web.Response(
            status=500,
            body=error_body("api_error", f"internal error in claude-code-mux (request id {rid}); see the log"),
            content_type="application/json",
        )
