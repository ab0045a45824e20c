"""``GET /v1/models`` and ``/v1/models/{id}``: the configured model names in the Anthropic list shape."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from starlette.requests import Request
from starlette.responses import Response

from claude_code_mux.config.schema import Config
from claude_code_mux.errors import NotFound

_EPOCH = datetime(2025, 1, 1, tzinfo=UTC).isoformat().replace("+00:00", "Z")


def model_ids(cfg: Config) -> list[str]:
    """[[models]] names, router targets and literal provider model names, in config order, unique."""
    ids: list[str] = []
    for m in cfg.models:
        ids.append(m.name)
    for p in cfg.providers:
        if p.enabled:
            ids.extend(x for x in p.models if not any(c in x for c in "*?["))
    r = cfg.router
    for target in (r.default, r.background, r.think, r.websearch, r.image, r.long_context):
        if target and "," not in target:
            ids.append(target)
    return list(dict.fromkeys(ids))


def _json(body: object) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


async def list_models(request: Request) -> Response:
    cfg = request.app.state.holder.current.config
    data = [{"type": "model", "id": i, "display_name": i, "created_at": _EPOCH} for i in model_ids(cfg)]
    limit = request.query_params.get("limit")
    if limit and limit.isdigit():
        data = data[: int(limit)]
    return _json(
        {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
    )


async def get_model(request: Request) -> Response:
    cfg = request.app.state.holder.current.config
    mid = request.path_params["model_id"]
    if mid not in model_ids(cfg):
        raise NotFound(f"model {mid!r} is not configured in claude-code-mux")
    return _json({"type": "model", "id": mid, "display_name": mid, "created_at": _EPOCH})
