"""The admin side of the server on Starlette: admin JSON API + OpenAPI, UI, live feed, test console, OAuth API,
device-login page and ``/metrics``. Handlers find the runtime holder at ``request.app.state.holder``."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    """Every admin route, to be mounted by the server's app."""
    return []
