"""The independent SMSC peer (npm ``smpp`` 0.5.1, scripted in tests/peers/smsc/smsc.js).

``node_smsc`` starts peers for a test and stops them after it; a missing node or a missing
``npm ci`` fails the test with the reason: it never skips. The control API and the config
keys are described at the top of smsc.js.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

PEER_DIR = Path(__file__).resolve().parents[1] / "peers" / "smsc"
START_TIMEOUT_S = 20.0

Session = int | str  # a session id, "any" (one receiver-capable bind) or "all"


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL it when the test process dies (no orphans)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def self_signed_cert(directory: Path, host: str = "localhost") -> tuple[Path, Path]:
    """(key, cert) PEM files for ``host`` and 127.0.0.1, made with the openssl CLI.

    Without openssl, pass ``tls={"key": ..., "cert": ...}`` paths (or ``key_pem``/``cert_pem``
    strings) made some other way: node itself cannot create X.509 certificates.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl is not installed: the TLS SMSC peer needs a certificate")
    key, cert = directory / "smsc-key.pem", directory / "smsc-cert.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", f"/CN={host}"),
            *("-addext", f"subjectAltName=DNS:{host},IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


class NodeSmsc:
    """One node-smpp SMSC on loopback, driven through its JSON control API."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = dict(config or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.control_port = 0
        self.tls_cert: Path | None = None
        self._workdir = Path(tempfile.mkdtemp(prefix="node-smsc-"))
        self._log_path = self._workdir / "stderr.log"
        self._http: httpx.AsyncClient | None = None

    async def start(self) -> NodeSmsc:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not installed: the SMSC test peer needs node >= 18")
        if not (PEER_DIR / "node_modules" / "smpp").is_dir():
            raise RuntimeError(
                f"the SMSC peer's npm packages are missing: `npm ci --prefix {PEER_DIR}`"
            )
        if self.config.get("tls") is True:
            key, cert = self_signed_cert(self._workdir)
            self.config["tls"] = {"key": str(key), "cert": str(cert)}
        if isinstance(self.config.get("tls"), dict) and "cert" in self.config["tls"]:
            self.tls_cert = Path(self.config["tls"]["cert"])
        with self._log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [node, str(PEER_DIR / "smsc.js"), json.dumps(self.config)],
                stdin=subprocess.PIPE,  # node exits when this closes
                stdout=subprocess.PIPE,
                stderr=log,
                preexec_fn=_die_with_parent,
            )
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(
                asyncio.to_thread(self.process.stdout.readline), START_TIMEOUT_S
            )
            ports = json.loads(line)
        except (TimeoutError, ValueError) as e:
            await asyncio.sleep(0.2)  # let a dying node finish its stack trace
            code = self.process.poll()
            reason = self.stderr()[-2000:]  # before stop() removes the log
            await self.stop()
            raise RuntimeError(f"the SMSC peer did not start (exit code {code}): {reason}") from e
        self.port, self.control_port = int(ports["smpp_port"]), int(ports["control_port"])
        self._http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.control_port}", timeout=30)
        return self

    def stderr(self) -> str:
        """What node wrote on stderr (crashes, stack traces)."""
        with contextlib.suppress(OSError):
            return self._log_path.read_text(errors="replace")
        return ""

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                await asyncio.to_thread(process.wait, 5)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait, 5)
        if process is not None:
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        shutil.rmtree(self._workdir, ignore_errors=True)

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        assert self._http is not None, "start() first"
        try:
            response = await self._http.request(method, path, json=body)
        except httpx.TransportError as e:
            # Most likely node died: say so, with what it wrote, rather than a bare refusal.
            code = self.process.poll() if self.process is not None else None
            raise RuntimeError(
                f"SMSC peer {method} {path}: {e!r} (node exit code {code}): {self.stderr()[-2000:]}"
            ) from e
        if response.status_code != 200:
            raise RuntimeError(f"SMSC peer {method} {path}: {response.status_code} {response.text}")
        return response.json()

    # -- what the peer saw --------------------------------------------------------------------

    async def received(self, *, with_submits: bool = True) -> dict[str, Any]:
        """Everything recorded: submits, binds, unbinds, delivers, deliver_resps, drops,
        disconnects, errors, unknown, generic_nacks, malformed_sent, enquire_links, and the
        submit_count/answered_count counters."""
        path = "/received" if with_submits else "/received?submits=0"
        return dict(await self._call("GET", path))

    async def submits(self, start: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """The submit_sm records in arrival order (from ``start``, at most ``limit``)."""
        query = f"?from={start}" + (f"&limit={limit}" if limit is not None else "")
        return list(await self._call("GET", "/submits" + query))

    async def stats(self) -> dict[str, int]:
        return dict(await self._call("GET", "/stats"))

    async def sessions(self) -> list[dict[str, Any]]:
        return list(await self._call("GET", "/sessions"))

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

    async def reset(self) -> None:
        await self._call("POST", "/reset")

    # -- behaviour -------------------------------------------------------------------------

    async def get_config(self) -> dict[str, Any]:
        return dict(await self._call("GET", "/config"))

    async def configure(self, **changes: Any) -> dict[str, Any]:
        return dict(await self._call("POST", "/config", changes))

    # -- what the peer sends ----------------------------------------------------------------

    async def deliver(
        self,
        fields: dict[str, Any] | None = None,
        short_message: bytes | None = None,
        session: Session = "any",
        message_payload: bytes | None = None,
        *,
        text: str | None = None,
        udh: dict[str, int] | None = None,
        sar: dict[str, int] | None = None,
        tlvs: dict[int, bytes] | None = None,
    ) -> list[int]:
        """Send one deliver_sm (an MO, or anything): node-smpp ``fields`` by name, the body
        as octets or as ``text`` encoded per ``fields["data_coding"]`` (0 GSM, 1 ASCII,
        3 Latin-1, 8 UCS-2), ``udh={"ref", "total", "seq", "ref_bits": 8|16}``,
        ``sar={"ref", "total", "seq"}``, raw ``tlvs`` by tag. Returns the sessions used."""
        return list(
            (
                await self._deliver(
                    "/deliver",
                    fields,
                    short_message,
                    session,
                    message_payload,
                    text,
                    udh,
                    sar,
                    tlvs,
                )
            )["sent"]
        )

    async def _deliver(
        self,
        path: str,
        fields: dict[str, Any] | None,
        short_message: bytes | None,
        session: Session,
        message_payload: bytes | None,
        text: str | None,
        udh: dict[str, int] | None,
        sar: dict[str, int] | None,
        tlvs: dict[int, bytes] | None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"fields": fields or {}, "session": session, **(extra or {})}
        if short_message is not None:
            body["short_message_hex"] = short_message.hex()
        if message_payload is not None:
            body["message_payload_hex"] = message_payload.hex()
        if text is not None:
            body["text"] = text
        if udh is not None:
            body["udh"] = udh
        if sar is not None:
            body["sar"] = sar
        if tlvs:
            body["tlvs_hex"] = {str(tag): value.hex() for tag, value in tlvs.items()}
        return dict(await self._call("POST", path, body))

    async def receipt(
        self,
        message_id: str,
        state: str = "DELIVRD",
        session: Session = "any",
        *,
        text: bool | str = True,
        with_tlvs: bool = True,
        date_digits: int = 10,
        err: str = "000",
        source_addr: str = "447700900123",
        destination_addr: str = "ACME",
        fields: dict[str, Any] | None = None,
        tlvs: dict[int, bytes] | None = None,
    ) -> list[int]:
        """Send a delivery receipt now: the standard text (or ``text`` as given, or none) and
        the receipted_message_id/message_state TLVs (unless ``with_tlvs=False``)."""
        extra = {
            "message_id": message_id,
            "state": state,
            "text": text if text is not True else None,
            "tlvs": with_tlvs,
            "date_digits": date_digits,
            "err": err,
            "source_addr": source_addr,
            "destination_addr": destination_addr,
        }
        extra = {k: v for k, v in extra.items() if v is not None}
        result = await self._deliver(
            "/dr", fields, None, session, None, None, None, None, tlvs, extra
        )
        return list(result["sent"])

    async def raw(self, data: bytes, session: Session = "all") -> list[int]:
        """Write octets as they are (a malformed PDU, half a PDU, garbage)."""
        return list(
            (await self._call("POST", "/raw", {"hex": data.hex(), "session": session}))["sent"]
        )

    async def malformed(self, kind: str, session: Session = "all") -> list[int]:
        """A canned bad PDU: short_length, long_length, huge_length, garbage,
        unknown_command, bad_body, bad_tlv."""
        body = {"kind": kind, "session": session}
        return list((await self._call("POST", "/malformed", body))["sent"])

    async def drop(self, session: int | None = None) -> int:
        """Destroy the sockets (all, or one session's) without an unbind."""
        body = {} if session is None else {"session": session}
        return int((await self._call("POST", "/drop", body))["dropped"])

    async def unbind(self, session: Session = "all") -> list[int]:
        """The SMSC sends unbind and closes once answered."""
        return list((await self._call("POST", "/unbind", {"session": session}))["sent"])


class NodeSmscFactory:
    """``await node_smsc(id_format="dec")`` -> a started peer; ``await node_smsc.many(4)``."""

    def __init__(self) -> None:
        self.started: list[NodeSmsc] = []

    async def __call__(self, **config: Any) -> NodeSmsc:
        peer = NodeSmsc(config)
        self.started.append(peer)
        return await peer.start()

    async def many(self, count: int, **config: Any) -> list[NodeSmsc]:
        return list(await asyncio.gather(*(self(**config) for _ in range(count))))

    async def stop_all(self) -> None:
        for peer in self.started:
            await peer.stop()


@pytest.fixture
async def node_smsc() -> AsyncIterator[NodeSmscFactory]:
    """Starts node-smpp SMSC peers for one test and stops them after it."""
    factory = NodeSmscFactory()
    try:
        yield factory
    finally:
        await factory.stop_all()
