"""A Starlette route that stands for a group of routes imported on the first request that could match them.

The admin side (its API, OpenAPI schemas, OAuth and device-login pages, the live feed, ``/metrics``) is most of
the server's import time and memory, and a router that only serves ``/v1/messages`` never needs it. Mounted
where the admin routes would be, :class:`LazyRoutes` imports them the first time the Starlette router asks
whether any of them matches, and from then on answers exactly as those routes would, in the same order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from starlette.datastructures import URLPath
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

_CHOSEN = "ccm.lazy_route"  # the inner route that matched, carried in the child scope to ``handle``


class LazyRoutes(BaseRoute):
    """``load()`` returns the routes; it is called once, on the first request Starlette offers to them."""

    def __init__(self, load: Callable[[], Sequence[BaseRoute]]) -> None:
        self._load: Callable[[], Sequence[BaseRoute]] | None = load
        self._routes: Sequence[BaseRoute] = ()

    @property
    def routes(self) -> Sequence[BaseRoute]:
        if self._load is not None:
            self._routes, self._load = tuple(self._load()), None
        return self._routes

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        partial: tuple[Match, Scope] | None = None
        for route in self.routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                return match, {**child, _CHOSEN: route}
            if match is Match.PARTIAL and partial is None:
                partial = (match, {**child, _CHOSEN: route})
        return partial or (Match.NONE, {})

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        for route in self.routes:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                pass
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        route: BaseRoute = scope.pop(_CHOSEN)
        scope["route"] = route
        await route.handle(scope, receive, send)
