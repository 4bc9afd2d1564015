"""The independent SMSC peer (npm ``smpp``, scripted in tests/peers/smsc/smsc.js).

``node_smsc`` starts peers for a test and stops them after it; a missing node or a missing
``npm ci`` fails the test with the reason: it never skips.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

PEER_DIR = Path(__file__).resolve().parents[1] / "peers" / "smsc"


def _die_with_parent() -> None:
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)


class NodeSmsc:
    """One node-smpp SMSC on loopback, driven through its JSON control API."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = dict(config or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.control_port = 0
        self._http: httpx.AsyncClient | None = None

    async def start(self) -> NodeSmsc:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not installed: the SMSC test peer needs it")
        if not (PEER_DIR / "node_modules" / "smpp").is_dir():
            raise RuntimeError(f"npm packages missing: run `npm ci --prefix {PEER_DIR}`")
        self.process = subprocess.Popen(
            [node, str(PEER_DIR / "smsc.js"), json.dumps(self.config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            preexec_fn=_die_with_parent,
        )
        assert self.process.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.process.stdout.readline), 20)
        if not line:
            raise RuntimeError(f"the SMSC peer did not start (exit {self.process.poll()})")
        ports = json.loads(line)
        self.port, self.control_port = ports["smpp_port"], ports["control_port"]
        self._http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.control_port}", timeout=10)
        return self

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.aclose()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                await asyncio.to_thread(self.process.wait, 5)
            except subprocess.TimeoutExpired:
                self.process.kill()

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        assert self._http is not None, "start() first"
        response = await self._http.request(method, path, json=body)
        response.raise_for_status()
        return response.json()

    async def received(self) -> dict[str, Any]:
        return dict(await self._call("GET", "/received"))

    async def submits(self) -> list[dict[str, Any]]:
        return list((await self.received())["submits"])

    async def sessions(self) -> list[dict[str, Any]]:
        return list(await self._call("GET", "/sessions"))

    async def configure(self, **changes: Any) -> None:
        await self._call("POST", "/config", changes)

    async def deliver(
        self,
        fields: dict[str, Any] | None = None,
        short_message: bytes | None = None,
        session: int | str = "all",
        message_payload: bytes | None = None,
    ) -> list[int]:
        body: dict[str, Any] = {"fields": fields or {}, "session": session}
        if short_message is not None:
            body["short_message_hex"] = short_message.hex()
        if message_payload is not None:
            body["message_payload_hex"] = message_payload.hex()
        return list((await self._call("POST", "/deliver", body))["sent"])

    async def raw(self, data: bytes, session: int | str = "all") -> list[int]:
        return list(
            (await self._call("POST", "/raw", {"hex": data.hex(), "session": session}))["sent"]
        )

    async def drop(self) -> int:
        return int((await self._call("POST", "/drop"))["dropped"])

    async def reset(self) -> None:
        await self._call("POST", "/reset")

    async def wait_for(
        self, check: Callable[[dict[str, Any]], bool], timeout_s: float = 10.0
    ) -> dict[str, Any]:
        """Poll what the peer received until ``check`` holds (the last state otherwise)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        state = await self.received()
        while not check(state) and loop.time() < end:
            await asyncio.sleep(0.05)
            state = await self.received()
        return state


NodeSmscFactory = Callable[..., Awaitable[NodeSmsc]]


@pytest.fixture
async def node_smsc() -> AsyncIterator[NodeSmscFactory]:
    """``await node_smsc(id_format="dec", dr={...})`` -> a started peer, stopped after the test."""
    started: list[NodeSmsc] = []

    async def start(**config: Any) -> NodeSmsc:
        peer = await NodeSmsc(config).start()
        started.append(peer)
        return peer

    yield start
    for peer in started:
        await peer.stop()
