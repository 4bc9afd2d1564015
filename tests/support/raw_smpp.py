"""Hand-packed SMPP 3.4 PDUs over a raw asyncio stream, to test the SMSC peer on its own.

Deliberately independent of ``bridge.smpp``: these bytes are written from the spec with
``struct``, so a test that passes here says something about the peer, not about our codec.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
from dataclasses import dataclass, field
from typing import Final

HEADER: Final = struct.Struct(">IIII")

GENERIC_NACK: Final = 0x80000000
BIND_RECEIVER: Final = 0x00000001
BIND_TRANSMITTER: Final = 0x00000002
SUBMIT_SM: Final = 0x00000004
DELIVER_SM: Final = 0x00000005
UNBIND: Final = 0x00000006
BIND_TRANSCEIVER: Final = 0x00000009
ENQUIRE_LINK: Final = 0x00000015
RESP: Final = 0x80000000

# Optional parameter tags (SMPP 3.4 section 5.3.2)
TAG_RECEIPTED_MESSAGE_ID: Final = 0x001E
TAG_USER_MESSAGE_REFERENCE: Final = 0x0204
TAG_SAR_MSG_REF_NUM: Final = 0x020C
TAG_SAR_TOTAL_SEGMENTS: Final = 0x020E
TAG_SAR_SEGMENT_SEQNUM: Final = 0x020F
TAG_NETWORK_ERROR_CODE: Final = 0x0423
TAG_MESSAGE_PAYLOAD: Final = 0x0424
TAG_MESSAGE_STATE: Final = 0x0427


def pack(command_id: int, seq: int, body: bytes = b"", status: int = 0) -> bytes:
    return HEADER.pack(16 + len(body), command_id, status, seq) + body


def cstr(value: str | bytes) -> bytes:
    raw = value.encode("latin-1") if isinstance(value, str) else value
    return raw + b"\x00"


def tlv(tag: int, value: bytes) -> bytes:
    return struct.pack(">HH", tag, len(value)) + value


def bind_body(system_id: str, password: str, system_type: str = "") -> bytes:
    # interface_version 0x34, addr_ton, addr_npi, address_range ""
    return cstr(system_id) + cstr(password) + cstr(system_type) + bytes((0x34, 0, 0)) + cstr("")


def submit_sm_body(
    source: str,
    destination: str,
    short_message: bytes,
    *,
    esm_class: int = 0,
    registered_delivery: int = 0,
    data_coding: int = 0,
    source_ton: int = 5,
    source_npi: int = 0,
    dest_ton: int = 1,
    dest_npi: int = 1,
    service_type: str = "",
    tlvs: bytes = b"",
) -> bytes:
    return (
        cstr(service_type)
        + bytes((source_ton, source_npi))
        + cstr(source)
        + bytes((dest_ton, dest_npi))
        + cstr(destination)
        # esm_class, protocol_id, priority_flag, schedule_delivery_time, validity_period
        + bytes((esm_class, 0, 0))
        + cstr("")
        + cstr("")
        # registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id
        + bytes((registered_delivery, 0, data_coding, 0, len(short_message)))
        + short_message
        + tlvs
    )


@dataclass(frozen=True)
class Pdu:
    command_id: int
    status: int
    seq: int
    body: bytes = b""

    @property
    def length(self) -> int:
        return 16 + len(self.body)

    def cstring(self) -> str:
        """The body's leading C-octet string (message_id of submit_sm_resp, system_id of a
        bind_resp)."""
        return read_cstring(self.body, 0)[0]


def read_cstring(data: bytes, offset: int) -> tuple[str, int]:
    end = data.index(b"\x00", offset)
    return data[offset:end].decode("latin-1"), end + 1


def parse_tlvs(data: bytes) -> dict[int, bytes]:
    tlvs: dict[int, bytes] = {}
    offset = 0
    while offset + 4 <= len(data):
        tag, length = struct.unpack_from(">HH", data, offset)
        tlvs[tag] = data[offset + 4 : offset + 4 + length]
        offset += 4 + length
    return tlvs


@dataclass(frozen=True)
class DeliverSm:
    seq: int
    service_type: str
    source_ton: int
    source_npi: int
    source_addr: str
    dest_ton: int
    dest_npi: int
    destination_addr: str
    esm_class: int
    registered_delivery: int
    data_coding: int
    short_message: bytes
    tlvs: dict[int, bytes] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.short_message.decode("latin-1")


def parse_deliver_sm(pdu: Pdu) -> DeliverSm:
    assert pdu.command_id == DELIVER_SM, hex(pdu.command_id)
    body = pdu.body
    service_type, offset = read_cstring(body, 0)
    source_ton, source_npi = body[offset], body[offset + 1]
    source_addr, offset = read_cstring(body, offset + 2)
    dest_ton, dest_npi = body[offset], body[offset + 1]
    destination_addr, offset = read_cstring(body, offset + 2)
    esm_class = body[offset]  # then protocol_id, priority_flag
    _, offset = read_cstring(body, offset + 3)  # schedule_delivery_time
    _, offset = read_cstring(body, offset)  # validity_period
    registered_delivery, data_coding = body[offset], body[offset + 2]
    sm_length = body[offset + 4]
    offset += 5
    short_message = body[offset : offset + sm_length]
    return DeliverSm(
        seq=pdu.seq,
        service_type=service_type,
        source_ton=source_ton,
        source_npi=source_npi,
        source_addr=source_addr,
        dest_ton=dest_ton,
        dest_npi=dest_npi,
        destination_addr=destination_addr,
        esm_class=esm_class,
        registered_delivery=registered_delivery,
        data_coding=data_coding,
        short_message=short_message,
        tlvs=parse_tlvs(body[offset + sm_length :]),
    )


class RawSmpp:
    """One TCP (or TLS) connection speaking hand-packed PDUs; nothing is answered for you."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.seq = 0
        self.inbox: list[Pdu] = []  # PDUs read while waiting for a response

    @classmethod
    async def connect(
        cls, port: int, *, tls: ssl.SSLContext | None = None, server_hostname: str | None = None
    ) -> RawSmpp:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=tls, server_hostname=server_hostname if tls else None
        )
        return cls(reader, writer)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def send_pdu(self, command_id: int, body: bytes = b"", status: int = 0) -> int:
        seq = self.next_seq()
        await self.send(pack(command_id, seq, body, status))
        return seq

    async def read(self, timeout_s: float = 5.0) -> Pdu:
        async with asyncio.timeout(timeout_s):
            head = await self.reader.readexactly(16)
            length, command_id, status, seq = HEADER.unpack(head)
            body = await self.reader.readexactly(length - 16) if length > 16 else b""
        return Pdu(command_id, status, seq, body)

    async def read_bytes(self, count: int, timeout_s: float = 5.0) -> bytes:
        async with asyncio.timeout(timeout_s):
            return await self.reader.readexactly(count)

    async def nothing_within(self, timeout_s: float) -> bool:
        """True when no byte arrives for ``timeout_s`` and the connection stays open (a byte
        that does arrive is consumed: call this only where nothing may come)."""
        try:
            async with asyncio.timeout(timeout_s):
                await self.reader.read(1)
        except TimeoutError:
            return True
        return False

    async def closed_by_peer(self, timeout_s: float = 5.0) -> bool:
        """True when the peer ends the connection within ``timeout_s`` (unread PDUs skipped)."""
        try:
            async with asyncio.timeout(timeout_s):
                while await self.reader.read(65536):
                    pass
        except TimeoutError:
            return False
        except ConnectionError:
            return True
        return True

    async def request(self, command_id: int, body: bytes = b"", timeout_s: float = 5.0) -> Pdu:
        """Send a request and return its response; other PDUs meanwhile land in ``self.inbox``."""
        seq = await self.send_pdu(command_id, body)
        async with asyncio.timeout(timeout_s):
            while True:
                pdu = await self.read(timeout_s)
                if pdu.seq == seq and pdu.command_id & RESP:
                    return pdu
                self.inbox.append(pdu)

    async def bind(
        self, kind: int = BIND_TRANSCEIVER, system_id: str = "acme", password: str = "pw"
    ) -> Pdu:
        return await self.request(kind, bind_body(system_id, password))

    async def submit(
        self,
        text: bytes = b"hello",
        dest: str = "447700900123",
        *,
        registered_delivery: int = 0,
        esm_class: int = 0,
        data_coding: int = 0,
        tlvs: bytes = b"",
    ) -> Pdu:
        body = submit_sm_body(
            "ACME",
            dest,
            text,
            registered_delivery=registered_delivery,
            esm_class=esm_class,
            data_coding=data_coding,
            tlvs=tlvs,
        )
        return await self.request(SUBMIT_SM, body)

    async def read_deliver(self, timeout_s: float = 5.0) -> DeliverSm:
        """The next deliver_sm (from the inbox first), skipping nothing else silently."""
        for i, pdu in enumerate(self.inbox):
            if pdu.command_id == DELIVER_SM:
                del self.inbox[i]
                return parse_deliver_sm(pdu)
        pdu = await self.read(timeout_s)
        assert pdu.command_id == DELIVER_SM, f"expected deliver_sm, got {pdu}"
        return parse_deliver_sm(pdu)

    async def ack(self, deliver: DeliverSm, status: int = 0) -> None:
        body = b"" if status else cstr("")  # deliver_sm_resp: message_id unused, NUL
        await self.send(pack(DELIVER_SM | RESP, deliver.seq, body, status))

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()
