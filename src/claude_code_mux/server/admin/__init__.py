"""The admin side of the server on Starlette: admin JSON API + OpenAPI, UI, live feed, test console, OAuth API,
device-login page and ``/metrics``. Handlers find the runtime holder at ``request.app.state.holder``.

Modules: :mod:`.config_api` (status, config reads and writes, reload), :mod:`.feed` (recent requests, live SSE
feed), :mod:`.console` (test console), :mod:`.oauth` (``/api/oauth/*``), :mod:`.device` (``/auth/*``),
:mod:`.ui` (static files), :mod:`.metrics`, :mod:`.accounts` (``/api/accounts``), :mod:`.keys` (virtual
keys), :mod:`.usage_api` (usage and spend); :mod:`.guard` (who may call), :mod:`.schemas` (input bodies),
:mod:`.view` (masked read views), :mod:`.openapi`.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from claude_code_mux.server.admin import (
    accounts,
    config_api,
    console,
    device,
    feed,
    keys,
    metrics,
    oauth,
    ui,
    usage_api,
)


def routes() -> list[BaseRoute]:
    """Every admin route, to be mounted by the server's app."""
    return [
        *ui.routes(),
        *config_api.routes(),
        *feed.routes(),
        *console.routes(),
        *oauth.routes(),
        *device.routes(),
        *metrics.routes(),
        *accounts.routes(),
        *keys.routes(),
        *usage_api.routes(),
    ]


async def close(app_state: Any) -> None:
    """At shutdown: stop the loopback listeners of logins still pending (``app_state`` is the app's ``state``)."""
    admin = getattr(app_state, "admin", None)
    if admin is not None and admin.logins is not None:
        await admin.logins.close()
