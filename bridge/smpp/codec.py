"""Encoding and decoding SMPP 3.4 PDUs, and framing them out of a byte stream.

Decoding is strict (lengths, NUL-terminated C-octet strings within their maximum size,
sm_length against the body, TLV lengths, no trailing bytes) and never raises anything but
``PduDecodeError``. The error says whether the stream is still in sync (the PDU's length
was sane, so the next PDU starts after it): then the session answers generic_nack and
carries on; when it is not, the session closes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from bridge.smpp import pdu as p
from bridge.smpp.constants import CommandId, CommandStatus

MAX_PDU_LENGTH = 64 * 1024
_HEADER = struct.Struct(">IIII")
_TLV_HEAD = struct.Struct(">HH")
_U8 = struct.Struct(">B")


class PduDecodeError(ValueError):
    def __init__(
        self,
        reason: str,
        *,
        sequence_number: int | None = None,
        command_id: int | None = None,
        in_sync: bool = True,
        status: int = CommandStatus.ESME_RINVCMDLEN,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sequence_number = sequence_number
        self.command_id = command_id
        self.in_sync = in_sync
        self.status = status

    @property
    def is_response(self) -> bool:
        return self.command_id is not None and bool(self.command_id & 0x80000000)


class _Invalid(Exception):
    """Internal: a field problem, turned into PduDecodeError with the header's data."""

    def __init__(self, reason: str, status: int = CommandStatus.ESME_RINVCMDLEN) -> None:
        super().__init__(reason)
        self.status = status


# --- writing -----------------------------------------------------------------------------


def _cstr(value: str, max_size: int, name: str) -> bytes:
    raw = value.encode("latin-1")
    if len(raw) >= max_size:
        raise ValueError(f"{name} is longer than {max_size - 1} octets")
    return raw + b"\x00"


def _tlvs(tlvs: p.Tlvs) -> bytes:
    return b"".join(_TLV_HEAD.pack(tag, len(value)) + value for tag, value in tlvs)


def _body_bind(x: p._Bind) -> bytes:
    return b"".join(
        (
            _cstr(x.system_id, 16, "system_id"),
            _cstr(x.password, 9, "password"),
            _cstr(x.system_type, 13, "system_type"),
            bytes((x.interface_version, x.addr_ton, x.addr_npi)),
            _cstr(x.address_range, 41, "address_range"),
        )
    )


def _body_short_message(x: p._ShortMessage) -> bytes:
    if len(x.short_message) > 254:
        raise ValueError("short_message is longer than 254 octets: use message_payload")
    return b"".join(
        (
            _cstr(x.service_type, 6, "service_type"),
            bytes((x.source_addr_ton, x.source_addr_npi)),
            _cstr(x.source_addr, 21, "source_addr"),
            bytes((x.dest_addr_ton, x.dest_addr_npi)),
            _cstr(x.destination_addr, 21, "destination_addr"),
            bytes((x.esm_class, x.protocol_id, x.priority_flag)),
            _cstr(x.schedule_delivery_time, 17, "schedule_delivery_time"),
            _cstr(x.validity_period, 17, "validity_period"),
            bytes(
                (
                    x.registered_delivery,
                    x.replace_if_present_flag,
                    x.data_coding,
                    x.sm_default_msg_id,
                    len(x.short_message),
                )
            ),
            x.short_message,
            _tlvs(x.tlvs),
        )
    )


def _body_data_sm(x: p.DataSm) -> bytes:
    return b"".join(
        (
            _cstr(x.service_type, 6, "service_type"),
            bytes((x.source_addr_ton, x.source_addr_npi)),
            _cstr(x.source_addr, 65, "source_addr"),
            bytes((x.dest_addr_ton, x.dest_addr_npi)),
            _cstr(x.destination_addr, 65, "destination_addr"),
            bytes((x.esm_class, x.registered_delivery, x.data_coding)),
            _tlvs(x.tlvs),
        )
    )


def _body(pdu: p.Pdu) -> bytes:
    if isinstance(pdu, p._ShortMessage):
        return _body_short_message(pdu)
    if isinstance(pdu, (p.SubmitSmResp, p.DeliverSmResp)):
        if pdu.command_status and not pdu.message_id and isinstance(pdu, p.SubmitSmResp):
            return b""  # an error response carries no body (SMPP 3.4, 4.4.2)
        return _cstr(pdu.message_id, 65, "message_id")
    if isinstance(pdu, p.DataSmResp):
        return _cstr(pdu.message_id, 65, "message_id") + _tlvs(pdu.tlvs)
    if isinstance(pdu, p._Bind):
        return _body_bind(pdu)
    if isinstance(pdu, p._BindResp):
        if pdu.command_status and not pdu.system_id and not pdu.tlvs:
            return b""
        return _cstr(pdu.system_id, 16, "system_id") + _tlvs(pdu.tlvs)
    if isinstance(pdu, p.DataSm):
        return _body_data_sm(pdu)
    if isinstance(pdu, p.Outbind):
        return _cstr(pdu.system_id, 16, "system_id") + _cstr(pdu.password, 9, "password")
    if isinstance(pdu, p.UnknownPdu):
        return pdu.body
    return b""


def encode(pdu: p.Pdu) -> bytes:
    """The PDU's wire bytes. Raises ValueError for a field that does not fit."""
    body = _body(pdu)
    return (
        _HEADER.pack(16 + len(body), pdu.command_id, pdu.command_status, pdu.sequence_number) + body
    )


# --- reading -----------------------------------------------------------------------------


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 16

    def cstr(self, max_size: int, name: str) -> str:
        end = self.data.find(b"\x00", self.pos, self.pos + max_size)
        if end < 0:
            raise _Invalid(f"{name} is not NUL-terminated within {max_size} octets")
        value = self.data[self.pos : end].decode("latin-1")
        self.pos = end + 1
        return value

    def u8(self, name: str) -> int:
        if self.pos >= len(self.data):
            raise _Invalid(f"PDU ends before {name}")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def take(self, size: int, name: str) -> bytes:
        if self.pos + size > len(self.data):
            raise _Invalid(f"{name} runs past the end of the PDU")
        value = self.data[self.pos : self.pos + size]
        self.pos += size
        return value

    def tlvs(self) -> p.Tlvs:
        found: p.Tlvs = []
        data, end = self.data, len(self.data)
        while self.pos < end:
            if self.pos + 4 > end:
                raise _Invalid("truncated TLV header", CommandStatus.ESME_RINVOPTPARSTREAM)
            tag, size = _TLV_HEAD.unpack_from(data, self.pos)
            self.pos += 4
            if self.pos + size > end:
                raise _Invalid(f"TLV 0x{tag:04X} runs past the end", CommandStatus.ESME_RINVPARLEN)
            found.append((tag, data[self.pos : self.pos + size]))
            self.pos += size
        return found

    def done(self) -> bool:
        return self.pos >= len(self.data)

    def end(self) -> None:
        if self.pos != len(self.data):
            raise _Invalid(f"{len(self.data) - self.pos} unexpected octets after the body")


def _read_bind(cls: type[p._Bind]) -> Callable[[_Reader, int, int], p.Pdu]:
    def read(r: _Reader, status: int, seq: int) -> p.Pdu:
        pdu = cls(
            command_status=status,
            sequence_number=seq,
            system_id=r.cstr(16, "system_id"),
            password=r.cstr(9, "password"),
            system_type=r.cstr(13, "system_type"),
            interface_version=r.u8("interface_version"),
            addr_ton=r.u8("addr_ton"),
            addr_npi=r.u8("addr_npi"),
            address_range=r.cstr(41, "address_range"),
        )
        r.end()
        return pdu

    return read


def _read_bind_resp(cls: type[p._BindResp]) -> Callable[[_Reader, int, int], p.Pdu]:
    def read(r: _Reader, status: int, seq: int) -> p.Pdu:
        if r.done():  # error responses may carry no body
            return cls(command_status=status, sequence_number=seq)
        system_id = r.cstr(16, "system_id")
        return cls(command_status=status, sequence_number=seq, system_id=system_id, tlvs=r.tlvs())

    return read


def _read_short_message(cls: type[p._ShortMessage]) -> Callable[[_Reader, int, int], p.Pdu]:
    def read(r: _Reader, status: int, seq: int) -> p.Pdu:
        service_type = r.cstr(6, "service_type")
        source_ton, source_npi = r.u8("source_addr_ton"), r.u8("source_addr_npi")
        source = r.cstr(21, "source_addr")
        dest_ton, dest_npi = r.u8("dest_addr_ton"), r.u8("dest_addr_npi")
        dest = r.cstr(21, "destination_addr")
        esm, pid, prio = r.u8("esm_class"), r.u8("protocol_id"), r.u8("priority_flag")
        schedule = r.cstr(17, "schedule_delivery_time")
        validity = r.cstr(17, "validity_period")
        registered, replace = r.u8("registered_delivery"), r.u8("replace_if_present_flag")
        coding, default_id = r.u8("data_coding"), r.u8("sm_default_msg_id")
        sm_length = r.u8("sm_length")
        short_message = r.take(sm_length, "short_message")
        return cls(
            command_status=status,
            sequence_number=seq,
            service_type=service_type,
            source_addr_ton=source_ton,
            source_addr_npi=source_npi,
            source_addr=source,
            dest_addr_ton=dest_ton,
            dest_addr_npi=dest_npi,
            destination_addr=dest,
            esm_class=esm,
            protocol_id=pid,
            priority_flag=prio,
            schedule_delivery_time=schedule,
            validity_period=validity,
            registered_delivery=registered,
            replace_if_present_flag=replace,
            data_coding=coding,
            sm_default_msg_id=default_id,
            short_message=short_message,
            tlvs=r.tlvs(),
        )

    return read


def _read_data_sm(r: _Reader, status: int, seq: int) -> p.Pdu:
    service_type = r.cstr(6, "service_type")
    source_ton, source_npi = r.u8("source_addr_ton"), r.u8("source_addr_npi")
    source = r.cstr(65, "source_addr")
    dest_ton, dest_npi = r.u8("dest_addr_ton"), r.u8("dest_addr_npi")
    dest = r.cstr(65, "destination_addr")
    esm, registered, coding = r.u8("esm_class"), r.u8("registered_delivery"), r.u8("data_coding")
    return p.DataSm(
        command_status=status,
        sequence_number=seq,
        service_type=service_type,
        source_addr_ton=source_ton,
        source_addr_npi=source_npi,
        source_addr=source,
        dest_addr_ton=dest_ton,
        dest_addr_npi=dest_npi,
        destination_addr=dest,
        esm_class=esm,
        registered_delivery=registered,
        data_coding=coding,
        tlvs=r.tlvs(),
    )


def _read_message_id(
    cls: type[p.SubmitSmResp | p.DeliverSmResp],
) -> Callable[[_Reader, int, int], p.Pdu]:
    def read(r: _Reader, status: int, seq: int) -> p.Pdu:
        if r.done():
            return cls(command_status=status, sequence_number=seq)
        pdu = cls(command_status=status, sequence_number=seq, message_id=r.cstr(65, "message_id"))
        r.end()
        return pdu

    return read


def _read_data_sm_resp(r: _Reader, status: int, seq: int) -> p.Pdu:
    if r.done():
        return p.DataSmResp(command_status=status, sequence_number=seq)
    message_id = r.cstr(65, "message_id")
    return p.DataSmResp(
        command_status=status, sequence_number=seq, message_id=message_id, tlvs=r.tlvs()
    )


def _read_outbind(r: _Reader, status: int, seq: int) -> p.Pdu:
    pdu = p.Outbind(
        command_status=status,
        sequence_number=seq,
        system_id=r.cstr(16, "system_id"),
        password=r.cstr(9, "password"),
    )
    r.end()
    return pdu


def _read_empty(cls: type[p.Pdu]) -> Callable[[_Reader, int, int], p.Pdu]:
    def read(r: _Reader, status: int, seq: int) -> p.Pdu:
        r.end()
        return cls(command_status=status, sequence_number=seq)

    return read


_READERS: dict[int, Callable[[_Reader, int, int], p.Pdu]] = {
    CommandId.BIND_TRANSMITTER: _read_bind(p.BindTransmitter),
    CommandId.BIND_RECEIVER: _read_bind(p.BindReceiver),
    CommandId.BIND_TRANSCEIVER: _read_bind(p.BindTransceiver),
    CommandId.BIND_TRANSMITTER_RESP: _read_bind_resp(p.BindTransmitterResp),
    CommandId.BIND_RECEIVER_RESP: _read_bind_resp(p.BindReceiverResp),
    CommandId.BIND_TRANSCEIVER_RESP: _read_bind_resp(p.BindTransceiverResp),
    CommandId.OUTBIND: _read_outbind,
    CommandId.SUBMIT_SM: _read_short_message(p.SubmitSm),
    CommandId.DELIVER_SM: _read_short_message(p.DeliverSm),
    CommandId.SUBMIT_SM_RESP: _read_message_id(p.SubmitSmResp),
    CommandId.DELIVER_SM_RESP: _read_message_id(p.DeliverSmResp),
    CommandId.DATA_SM: _read_data_sm,
    CommandId.DATA_SM_RESP: _read_data_sm_resp,
    CommandId.ENQUIRE_LINK: _read_empty(p.EnquireLink),
    CommandId.ENQUIRE_LINK_RESP: _read_empty(p.EnquireLinkResp),
    CommandId.UNBIND: _read_empty(p.Unbind),
    CommandId.UNBIND_RESP: _read_empty(p.UnbindResp),
    CommandId.GENERIC_NACK: _read_empty(p.GenericNack),
}


def decode(data: bytes) -> p.Pdu:
    """One whole PDU (header included) -> its dataclass, or PduDecodeError."""
    if len(data) < 16:
        raise PduDecodeError("shorter than a PDU header", in_sync=False)
    length, command_id, status, seq = _HEADER.unpack_from(data)
    if length != len(data):
        raise PduDecodeError(
            f"command_length {length} but {len(data)} octets",
            sequence_number=seq,
            command_id=command_id,
            in_sync=False,
        )
    reader = _READERS.get(command_id)
    if reader is None:
        return p.UnknownPdu(
            command_status=status,
            sequence_number=seq,
            unknown_command_id=command_id,
            body=bytes(data[16:]),
        )
    try:
        return reader(_Reader(data), status, seq)
    except _Invalid as exc:
        raise PduDecodeError(
            f"{CommandId(command_id).name.lower()}: {exc}",
            sequence_number=seq,
            command_id=command_id,
            status=exc.status,
        ) from None


class Framer:
    """Cuts a byte stream into PDUs. ``feed`` returns decoded PDUs and decode errors in order;
    after an out-of-sync error the stream cannot be trusted and the caller closes it."""

    __slots__ = ("_broken", "_buffer", "max_length")

    def __init__(self, max_length: int = MAX_PDU_LENGTH) -> None:
        self._buffer = bytearray()
        self._broken = False
        self.max_length = max_length

    def feed(self, data: bytes) -> list[p.Pdu | PduDecodeError]:
        if self._broken:
            return []
        buffer = self._buffer
        buffer += data
        out: list[p.Pdu | PduDecodeError] = []
        pos, size = 0, len(buffer)
        while size - pos >= 4:
            length = int.from_bytes(buffer[pos : pos + 4], "big")
            if length < 16 or length > self.max_length:
                seq = (
                    int.from_bytes(buffer[pos + 12 : pos + 16], "big") if size - pos >= 16 else None
                )
                out.append(
                    PduDecodeError(
                        f"command_length {length} outside 16..{self.max_length}",
                        sequence_number=seq,
                        in_sync=False,
                    )
                )
                self._broken = True
                buffer.clear()
                return out
            if size - pos < length:
                break
            try:
                out.append(decode(bytes(buffer[pos : pos + length])))
            except PduDecodeError as error:
                out.append(error)
            pos += length
        if pos:
            del buffer[:pos]
        return out
