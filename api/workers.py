"""Several worker processes for ``c2c serve --workers N``, each with a listening socket of its own.

uvicorn's supervisor shares one listening socket between its workers. Each worker's event
loop accepts every connection waiting when it wakes, so clients that open their keep-alive
connections together (a batch job, a benchmark, a proxy's pool) often all land on one worker
while the others idle. Here each worker listens on a socket of its own, bound to the same
address with ``SO_REUSEPORT``, and the kernel shares new connections out between them by a
hash of the client's address and port. The supervisor (restarts, signals, health checks) stays
uvicorn's; only the socket each worker listens on changes. Where ``SO_REUSEPORT`` does not
exist, uvicorn's shared socket is used as before.
"""

from __future__ import annotations

import socket
from typing import Any

import uvicorn
from uvicorn.supervisors import multiprocess

REUSE_PORT = hasattr(socket, "SO_REUSEPORT")


def _reusable(family: int) -> socket.socket:
    sock = socket.socket(family=family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return sock


def bind_address(config: uvicorn.Config) -> socket.socket:
    """The supervisor's socket: bound (it holds the address and resolves port 0) but not listening,
    so that no connection waits on it."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = _reusable(family)
    sock.bind((config.host, config.port))
    sock.set_inheritable(True)
    return sock


def own_listener(shared: socket.socket, backlog: int) -> socket.socket:
    """A listening socket of this worker's, on the address of the supervisor's ``shared`` socket."""
    sock = _reusable(shared.family)
    sock.bind(shared.getsockname()[:2])
    sock.listen(backlog)
    return sock


class OwnSocketProcess(multiprocess.Process):
    """uvicorn's worker process, serving on a socket of its own (made in the worker)."""

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # runs in the worker
        own = [own_listener(sock, self.config.backlog) for sock in sockets or []]
        super().target(own)


def run_workers(config: uvicorn.Config) -> None:
    """Run ``config.workers`` workers under uvicorn's supervisor, each listening on its own socket."""
    if not REUSE_PORT:
        multiprocess.Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    address = bind_address(config)
    shared: Any = multiprocess.Process
    multiprocess.Process = OwnSocketProcess  # the supervisor makes its workers from this name
    try:
        multiprocess.Multiprocess(config, sockets=[address]).run()
    finally:
        multiprocess.Process = shared
        address.close()
