"""The listening socket, made by us (uvicorn serves it): standard library only, so ``ccm start --workers N`` can
bind it before it imports the server."""

from __future__ import annotations

import socket


def bind_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A TCP socket bound to ``host:port`` (port 0: any free port), not yet listening.

    ``reuse_port`` puts it in the port's ``SO_REUSEPORT`` group: every worker of ``--workers N`` binds the same
    port and the kernel spreads new connections over the members that listen. A bound socket that does not
    listen yet gets no connections, so the first worker can bind (and learn a port 0's number) before the others
    start and listen only once they do.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port and hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock
