"""An ASGI app served by uvicorn inside the caller's event loop, stoppable and restartable.

    server = LoopbackServer(app, host="127.0.0.1", port=0)   # port 0: any free port
    await server.start()        # listening once this returns; server.port is the real port
    await server.stop()         # closes the listening socket: connects are now refused
    await server.start()        # listens again on the same address and port

``stop`` is a hard stop, like a site going away: open connections are aborted, not drained.
The uvicorn lifecycle is driven piece by piece rather than through ``Server.serve`` because
``serve`` swaps the process's SIGINT/SIGTERM handlers and restores them on exit, which goes
wrong when several servers start and stop in different orders in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import Iterable
from typing import Any

import uvicorn
from starlette.types import ASGIApp

__all__ = ["LoopbackServer", "bind_socket", "pick_port"]

# Requests still running after an abort get this long to notice before being cancelled.
_GRACE_S = 1.0


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` with SO_REUSEADDR, so a restart can rebind at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say TCP. Without it
    # each keep-alive request waits ~40 ms (Nagle against delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def pick_port(hosts: Iterable[str] = ("127.0.0.1",), *, tries: int = 200) -> int:
    """A port free on every one of ``hosts``, chosen below Linux's ephemeral range.

    A port from the ephemeral range could be taken as the local port of some outgoing
    connection while its server is stopped, and then the restart could not rebind it.
    """
    wanted = list(hosts)
    for _ in range(tries):
        port = random.randrange(20000, 32000)
        probes: list[socket.socket] = []
        try:
            for host in wanted:
                probes.append(bind_socket(host, port))
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
        return port
    raise OSError(f"no free port shared by {wanted} after {tries} tries")


def _abort_all(server: uvicorn.Server) -> None:
    for conn in list(server.server_state.connections):
        transport = getattr(conn, "transport", None)
        if transport is not None:
            transport.abort()


class LoopbackServer:
    """One ASGI app on one address; see the module docstring."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._ticker: asyncio.Task[None] | None = None

    @property
    def listening(self) -> bool:
        return self._server is not None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        if self._server is not None:
            return
        sock = bind_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        # log_config=None: leave the process's logging configuration alone.
        config = uvicorn.Config(
            self.app, http="h11", ws="none", lifespan="off", log_config=None, access_log=False
        )
        config.load()
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)
        try:
            await server.startup(sockets=[sock])
        except BaseException:
            sock.close()
            raise
        self._server = server
        # main_loop only refreshes the Date header once a second, until should_exit.
        self._ticker = asyncio.create_task(server.main_loop(), name=f"uvicorn-{self.base_url}")

    async def stop(self) -> None:
        server, ticker = self._server, self._ticker
        if server is None:
            return
        self._server = self._ticker = None
        server.should_exit = True
        # Stop accepting, then let connections accepted in the same tick get their transport:
        # once the listener is closed, asyncio (3.11) drops them half set up and unclosed, and
        # their clients wait for their read timeout.
        loop = asyncio.get_running_loop()
        for listener in server.servers:
            for sock in listener.sockets:
                with contextlib.suppress(NotImplementedError):
                    loop.remove_reader(sock.fileno())
        _abort_all(server)
        for _ in range(3):
            await asyncio.sleep(0)
        for listener in server.servers:
            listener.close()  # closes the listening socket: new connects are refused from here
        _abort_all(server)
        tasks = list(server.server_state.tasks)
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=_GRACE_S)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        for listener in server.servers:
            await listener.wait_closed()

    def abort_client(self, client: Any) -> bool:
        """Abort the connection whose peer address is ``client`` (an ASGI scope's "client")."""
        if self._server is None or client is None:
            return False
        peer = tuple(client)
        for conn in list(self._server.server_state.connections):
            if tuple(getattr(conn, "client", None) or ()) == peer:
                transport = getattr(conn, "transport", None)
                if transport is not None:
                    transport.abort()
                    return True
        return False
