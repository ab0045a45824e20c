"""Run the server: build the runtime, listen, reload on SIGHUP / file change, shut down gracefully.

uvicorn (httptools, uvloop) serves the one ASGI application (:mod:`.app`), driven programmatically: we make
the listening socket (port 0 in tests; ``SO_REUSEPORT`` for ``--workers N``, where ``ccm start`` binds it
before the other workers start: :mod:`.listen`), uvicorn serves it, and on stop it
stops accepting, lets open streams finish within ``server.timeouts.shutdown_grace_ms``, then closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import ipaddress
import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn

from claude_code_mux import __version__
from claude_code_mux.access.gate import AccessGate
from claude_code_mux.budgets.ledger import SpendLedger
from claude_code_mux.config.schema import Config
from claude_code_mux.errors import ConfigError
from claude_code_mux.observe.hub import build_observers
from claude_code_mux.observe.logging import Redactor, setup_logging
from claude_code_mux.runtime import Runtime
from claude_code_mux.server.app import build_app
from claude_code_mux.server.listen import bind_socket
from claude_code_mux.server.memory import trim_when_idle
from claude_code_mux.server.protocol import BoundedHttpToolsProtocol
from claude_code_mux.server.state import RuntimeHolder
from claude_code_mux.server.usage_poll import annotate_last_requests, start_poller
from claude_code_mux.server.wiring import RuntimeBuilder

if TYPE_CHECKING:
    from starlette.routing import BaseRoute


def settle_gc() -> None:
    """Keep the cyclic garbage collector off the request path.

    Requests free almost everything they allocate by reference counting, but with the default threshold (700 net
    new containers) the swing of 100+ requests in flight triggers a collection every few milliseconds, and each
    walks the young objects of every open request: ~9 % of the router's CPU at c=128 here. Start-up objects are
    frozen (never walked again) and a collection runs after 20,000 net new containers, which the request swing
    does not reach; real garbage cycles (rare: exceptions kept with their tracebacks) are still collected.

    ``ccm start`` imports with the collector off (:func:`claude_code_mux.cli.main.main`) and this turns it on.
    Nothing is collected first: a full collection here walks every start-up object (~50,000, ~30 ms before the
    first request on the 2-core VM) to free the few hundred objects that import-time cycles leave, and the
    ~120 young collections the imports would trigger free nothing either.
    """
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    gc.enable()


def _admin_routes() -> list[BaseRoute]:
    """The admin side, imported on the first request that is neither a hot route nor ``/v1/*`` (see
    :mod:`.lazy_routes`): a router that only serves models never loads it."""
    from claude_code_mux.server.admin import routes

    return routes()


def _extra_routes() -> list[BaseRoute]:
    """Behind the API routes when the Starlette side is built: the admin side, itself loaded on first use."""
    from claude_code_mux.server.lazy_routes import LazyRoutes

    return [LazyRoutes(_admin_routes)]


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secrets_of(cfg: Config) -> list[str]:
    out: list[str] = []
    for key in (cfg.server.api_key, cfg.server.admin_key):
        if key is not None:
            out.append(key.get_secret_value())
    for p in cfg.providers:
        if p.api_key is not None:
            out.append(p.api_key.get_secret_value())
    return out


@dataclass
class ServerOptions:
    host: str
    port: int
    config_path: Path | None
    home: Path
    insecure_no_auth: bool = False
    port_file: Path | None = None
    watch: bool = True
    signals: bool = True
    tune_gc: bool = False  # settle_gc() after start (process-wide, so only when the process is the server)
    sock: socket.socket | None = None  # already bound (``--workers``: see cli/server.py); else bound at start


class Server:
    """Owns the listening socket and the runtime holder; reloads and stops on signals."""

    def __init__(self, cfg: Config, opts: ServerOptions) -> None:
        self.cfg = cfg
        self.opts = opts
        self.redactor = Redactor(secrets_of(cfg))
        self.logger = setup_logging(cfg.server.log_level, self.redactor)
        self._stop = asyncio.Event()
        self._uvicorn: uvicorn.Server | None = None
        self.holder: RuntimeHolder | None = None
        self.port = opts.port
        self._retired: dict[asyncio.Task[None], Runtime] = {}
        self._builder = RuntimeBuilder(opts.home, opts.config_path, self.logger)
        self._loaded_digest = b""
        self._stamp: tuple[float, int] | None = None
        self._poller: asyncio.Task[None] | None = None

    async def _build_runtime(self, cfg: Config) -> Runtime:
        return await self._builder.build(cfg)

    def check_exposure(self) -> None:
        s = self.cfg.server
        if not is_loopback(self.opts.host) and s.api_key is None and not self.opts.insecure_no_auth:
            raise ConfigError(
                f"refusing to listen on {self.opts.host}: that is reachable beyond this machine and "
                "server.api_key is not set, so anyone on the network could use your providers",
                key="server.api_key",
                fix="set server.api_key, bind to 127.0.0.1, or pass --insecure-no-auth",
            )

    async def start(self) -> None:
        self.check_exposure()
        self._stamp = self._file_stamp()
        if self.opts.config_path is not None:
            with contextlib.suppress(OSError):
                self._loaded_digest = hashlib.sha256(self.opts.config_path.read_bytes()).digest()
        rt = await self._build_runtime(self.cfg)
        self.holder = RuntimeHolder(
            current=rt,
            redactor=self.redactor,
            logger=self.logger,
            observers=build_observers(self.cfg, self.opts.home, self.logger),
            home=self.opts.home,
            config_path=self.opts.config_path,
            bound_host=self.opts.host,
            reload=self.reload,
        )
        self.holder.gate = AccessGate(self.cfg, self.opts.home, ledger=self._budget_ledger())
        await self.holder.gate.start()
        fleet = self._builder.fleet
        self.holder.fleet = fleet
        if fleet is not None:
            await fleet.start(rt.health, lambda: self.holder.current.accounts if self.holder else None, self.reload)
        self._poller = start_poller(self.holder)
        annotate_last_requests(self.holder)
        app = build_app(self.holder, _extra_routes)
        self._app = app
        sock = self.opts.sock
        if sock is None:
            sock = bind_socket(self.opts.host, self.opts.port, reuse_port=bool(os.environ.get("CCM_REUSEPORT")))
        sock.listen(1024)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self._start_fleet_feed()
        config = self._uvicorn_config(app)
        self._uvicorn = uvicorn.Server(config)
        self._uvicorn.lifespan = config.lifespan_class(config)  # what uvicorn's own serve() sets up first
        await self._uvicorn.startup(sockets=[sock])
        if self.opts.tune_gc:
            settle_gc()
        if self.opts.port_file is not None:
            self.opts.port_file.write_text(str(self.port))
        self.logger.info(
            "claude-code-mux %s listening on http://%s:%d (config %s)",
            __version__,
            self.opts.host,
            self.port,
            self.opts.config_path or "<embedded default>",
        )

    def _budget_ledger(self) -> SpendLedger | None:
        """With the fleet on, budgets count the spend of every instance (a Redis counter per scope and period)."""
        fleet = self._builder.fleet
        if fleet is None or fleet.link is None:
            return None
        from claude_code_mux.budgets.ledger import SqliteLedger
        from claude_code_mux.state.budget_ledger import RedisLedger

        return RedisLedger(fleet.link, SqliteLedger(Path(self.opts.home) / "usage.db"))

    def _start_fleet_feed(self) -> None:
        """With the fleet on, this instance's records also go to the shared Redis stream the admin feed reads, and
        the per-client limits hold for the whole fleet."""
        holder, fleet = self.holder, self._builder.fleet
        if holder is None or fleet is None or fleet.link is None:
            return
        from claude_code_mux.server.admin.feed import clean_record  # the fleet's stream holds what the feed shows
        from claude_code_mux.state.feed import FleetFeed, instance_name
        from claude_code_mux.state.ratelimit import FleetRateLimiter

        redactor = self.redactor
        feed = FleetFeed(fleet.link, lambda rec: clean_record(redactor, rec), instance_name(self.port))
        holder.fleet_feed = feed
        holder.limiter.fleet = FleetRateLimiter(fleet.link, holder.limiter)
        holder.observers.add(feed)
        holder.observers.closers.append(feed.aclose)

    def _uvicorn_config(self, app: object) -> uvicorn.Config:
        t = self.cfg.server.timeouts
        BoundedHttpToolsProtocol.head_timeout_s = t.client_read_ms / 1000
        # uvicorn's own messages (a protocol error, a failed task) go through our redacting handler.
        uv_log = logging.getLogger("uvicorn.error")
        uv_log.handlers = list(self.logger.handlers)
        uv_log.propagate = False
        uv_log.setLevel(logging.ERROR)
        config = uvicorn.Config(
            app,  # type: ignore[arg-type]
            http=BoundedHttpToolsProtocol,
            ws="none",  # no WebSocket route; "auto" would look for the websockets and wsproto packages at start
            loop="none",
            interface="asgi3",
            lifespan="off",
            log_config=None,
            access_log=False,
            proxy_headers=False,  # the client address is the peer's: limits are keyed on it
            server_header=False,
            date_header=False,
            timeout_keep_alive=75,
            timeout_graceful_shutdown=max(1, round(t.shutdown_grace_ms / 1000)),
            backlog=1024,
        )
        config.load()
        return config

    async def reload(self, reason: str) -> bool:
        """Load the config again and swap the runtime; on error keep serving the old one."""
        from claude_code_mux.config.load import load_config

        if self.opts.config_path is None or self.holder is None:
            return False
        try:
            text = self.opts.config_path.read_bytes()
        except OSError as exc:
            self.logger.error("config reload rejected (%s): cannot read %s: %s", reason, self.opts.config_path, exc)
            return False
        digest = hashlib.sha256(text).digest()
        fleet = self._builder.fleet
        from_fleet = reason.endswith("on another instance")
        if (reason == "file changed" or from_fleet) and digest == self._loaded_digest:
            return True  # already applied (e.g. written and reloaded through the admin API)
        try:
            cfg = load_config(self.opts.config_path)
        except ConfigError as exc:
            self.logger.error("config reload rejected (%s), still serving the previous config: %s", reason, exc)
            return False
        self._loaded_digest = digest
        new = await self._build_runtime(cfg)
        new.health = self.holder.current.health
        old = self.holder.swap(new)
        if self.holder.gate is not None:
            self.holder.gate.update(cfg)
        for s in secrets_of(cfg):
            self.redactor.add(s)
        self.cfg = cfg
        self.logger.info("config reloaded (%s)", reason)
        if fleet is not None:
            fleet.attach(new.accounts)
            if not from_fleet:
                fleet.config_changed(digest.hex())
        # In-flight requests keep using the old runtime's sessions; close them once those can have finished.
        task = asyncio.get_running_loop().create_task(old.close(grace_s=cfg.server.timeouts.read_ms / 1000))
        self._retired[task] = old
        task.add_done_callback(lambda t: self._retired.pop(t, None))
        return True

    async def serve_forever(self) -> None:
        loop = asyncio.get_running_loop()
        if self.opts.signals:
            self._install_signals(loop)
        watcher = loop.create_task(self._watch()) if self.opts.watch else None
        trimmer = loop.create_task(self._trim_when_idle())
        await self._stop.wait()
        trimmer.cancel()
        if watcher is not None:
            watcher.cancel()
        await self.shutdown()

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal.SIGTERM, self._stop.set)
            loop.add_signal_handler(signal.SIGINT, self._stop.set)
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self.reload("SIGHUP")))

    def _file_stamp(self) -> tuple[float, int] | None:
        path = self.opts.config_path
        if path is None:
            return None
        try:
            st = path.stat()
        except OSError:
            return None
        return (st.st_mtime, st.st_size)

    async def _watch(self) -> None:
        if self.opts.config_path is None:
            return
        stamp = self._file_stamp
        last = self._stamp  # taken at start, so an edit made right after start is not missed
        while True:
            await asyncio.sleep(0.5)
            cur = stamp()
            if cur is not None and cur != last:
                last = cur
                await self.reload("file changed")

    async def _trim_when_idle(self) -> None:
        uv = self._uvicorn
        assert uv is not None
        state = uv.server_state  # uvicorn counts requests started and keeps the running handlers
        await trim_when_idle(lambda: state.total_requests, lambda: bool(state.tasks))

    async def shutdown(self) -> None:
        assert self.holder is not None and self._uvicorn is not None
        grace = self.cfg.server.timeouts.shutdown_grace_ms / 1000
        self.logger.info("shutting down: waiting up to %.1fs for %d open stream(s)", grace, self.holder.active_streams)
        # Stop accepting, let open streams finish up to the deadline (idle connections close now), then close.
        self.holder.observers.close_subscribers()  # live feeds end, or they would hold the grace period
        await self._uvicorn.shutdown()
        if "claude_code_mux.server.admin" in sys.modules:  # the admin side loads on first use (lazy_routes)
            from claude_code_mux.server.admin import close as close_admin

            app = getattr(self, "_app", None)
            await close_admin(app.starlette_state if app is not None else None)  # pending logins' listeners
        if self._poller is not None:
            self._poller.cancel()
        await self.holder.current.close()
        for task, old in list(self._retired.items()):
            task.cancel()
            await old.close()
        await self.holder.observers.aclose()
        if self.holder.gate is not None:
            await self.holder.gate.close()
        await self._builder.close()

    def stop(self) -> None:
        self._stop.set()


async def run_server(cfg: Config, opts: ServerOptions) -> int:
    server = Server(cfg, opts)
    try:
        await server.start()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot listen on {opts.host}:{opts.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    await server.serve_forever()
    logging.getLogger("claude_code_mux").info("stopped")
    return 0
