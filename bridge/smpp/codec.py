"""Encoding and decoding SMPP 3.4 PDUs, and framing them out of a byte stream.

Decoding is strict (command_length, NUL-terminated C-octet strings within their maximum
size, sm_length against the body, TLV lengths, no trailing bytes) and never raises
anything but ``PduDecodeError``. The error says whether the stream is still in sync (the
PDU's length was sane, so the next PDU starts after it): then the session answers
generic_nack and carries on; when it is not, the session closes.

Two deliberate leniencies, both where strictness would lose a message's outcome:

- a response with a non-zero command_status whose body cannot be read is returned with
  its status and an empty body (SMPP 3.4 4.4.2: that body "is not returned" anyway);
- submit_sm_resp / deliver_sm_resp may carry TLVs (SMPP 5.0 SMSCs add them).

Every layout is written once, as a table (``LAYOUTS``), and read by a generic encoder and
decoder. The PDUs on the hot path (submit_sm, deliver_sm and their responses) also have
hand-written versions of the same layout (one string format, one pass, no per-field
calls); tests check that both agree.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from bridge.smpp import pdu as p
from bridge.smpp.constants import CommandId, CommandStatus

MAX_PDU_LENGTH = 64 * 1024

_HEADER = struct.Struct(">IIII")
_U32 = struct.Struct(">I")
_TLV_HEAD = struct.Struct(">HH")
_FIVE_OCTETS = struct.Struct(">BBBBB")

_S = CommandStatus
_Reader = Callable[[bytes, int, int], p.Pdu]


class PduDecodeError(ValueError):
    """Bytes that are not a valid PDU.

    ``in_sync``: the PDU's boundaries were sound, the next PDU can be read (answer
    generic_nack, carry on); False: the stream cannot be trusted (close it).
    ``status``: the command_status to answer with.
    """

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


class PduEncodeError(ValueError):
    """A field that does not fit its place in the PDU; nothing was encoded."""


class _Invalid(Exception):
    """Internal: a field problem, turned into PduDecodeError with the header's data."""

    def __init__(self, reason: str, status: int = CommandStatus.ESME_RINVCMDLEN) -> None:
        super().__init__(reason)
        self.status = status


# --- layouts -----------------------------------------------------------------------------

CSTR, U8, SM = "cstr", "u8", "sm"
Field = tuple[str, str, int]  # (name, kind, C-octet string size including its NUL)


def _c(name: str, size: int) -> Field:
    return (name, CSTR, size)


def _u8(*names: str) -> tuple[Field, ...]:
    return tuple((name, U8, 1) for name in names)


_BIND: tuple[Field, ...] = (
    _c("system_id", 16),
    _c("password", 9),
    _c("system_type", 13),
    *_u8("interface_version", "addr_ton", "addr_npi"),
    _c("address_range", 41),
)
_SHORT_MESSAGE: tuple[Field, ...] = (
    _c("service_type", 6),
    *_u8("source_addr_ton", "source_addr_npi"),
    _c("source_addr", 21),
    *_u8("dest_addr_ton", "dest_addr_npi"),
    _c("destination_addr", 21),
    *_u8("esm_class", "protocol_id", "priority_flag"),
    _c("schedule_delivery_time", 17),
    _c("validity_period", 17),
    *_u8("registered_delivery", "replace_if_present_flag", "data_coding", "sm_default_msg_id"),
    ("short_message", SM, 255),
)
_DATA_SM: tuple[Field, ...] = (
    _c("service_type", 6),
    *_u8("source_addr_ton", "source_addr_npi"),
    _c("source_addr", 65),
    *_u8("dest_addr_ton", "dest_addr_npi"),
    _c("destination_addr", 65),
    *_u8("esm_class", "registered_delivery", "data_coding"),
)
_MESSAGE_ID = (_c("message_id", 65),)

LAYOUTS: dict[type[p.Pdu], tuple[Field, ...]] = {
    p.BindTransmitter: _BIND,
    p.BindReceiver: _BIND,
    p.BindTransceiver: _BIND,
    p.BindTransmitterResp: (_c("system_id", 16),),
    p.BindReceiverResp: (_c("system_id", 16),),
    p.BindTransceiverResp: (_c("system_id", 16),),
    p.Outbind: (_c("system_id", 16), _c("password", 9)),
    p.SubmitSm: _SHORT_MESSAGE,
    p.DeliverSm: _SHORT_MESSAGE,
    p.SubmitSmResp: _MESSAGE_ID,
    p.DeliverSmResp: _MESSAGE_ID,
    p.DataSm: _DATA_SM,
    p.DataSmResp: _MESSAGE_ID,
    p.EnquireLink: (),
    p.EnquireLinkResp: (),
    p.Unbind: (),
    p.UnbindResp: (),
    p.GenericNack: (),
}
_BY_ID: dict[int, type[p.Pdu]] = {cls.COMMAND_ID: cls for cls in LAYOUTS}
_WITH_TLVS: frozenset[type[p.Pdu]] = frozenset(
    cls for cls in LAYOUTS if issubclass(cls, p.WithTlvs)
)
# Responses whose body may be absent on error (SMPP 3.4 4.1.2, 4.4.2, 4.6.2, 4.7.2).
_BIND_RESPS: tuple[type[p.Pdu], ...] = (
    p.BindTransmitterResp,
    p.BindReceiverResp,
    p.BindTransceiverResp,
)
_OPTIONAL_BODY = frozenset((*_BIND_RESPS, p.SubmitSmResp, p.DeliverSmResp, p.DataSmResp))
# Error responses written without a body when they carry nothing (deliver_sm_resp and
# data_sm_resp always have their message_id field, even empty).
_EMPTY_ON_ERROR = frozenset((*_BIND_RESPS, p.SubmitSmResp))
# The status a bad field earns (otherwise ESME_RINVCMDLEN).
_FIELD_STATUS: dict[str, int] = {
    "system_id": _S.ESME_RINVSYSID,
    "password": _S.ESME_RINVPASWD,
    "system_type": _S.ESME_RINVSYSTYP,
    "service_type": _S.ESME_RINVSERTYP,
    "source_addr": _S.ESME_RINVSRCADR,
    "destination_addr": _S.ESME_RINVDSTADR,
    "schedule_delivery_time": _S.ESME_RINVSCHED,
    "validity_period": _S.ESME_RINVEXPIRY,
    "short_message": _S.ESME_RINVMSGLEN,
    "message_id": _S.ESME_RINVMSGID,
}


# --- writing -----------------------------------------------------------------------------


def _tlv_bytes(tlvs: p.Tlvs) -> bytes:
    pack = _TLV_HEAD.pack
    return b"".join([pack(tag, len(value)) + value for tag, value in tlvs])


def _check_field(pdu: p.Pdu, name: str, kind: str, size: int) -> None:
    value = getattr(pdu, name)
    if kind == CSTR:
        if not isinstance(value, str):
            raise PduEncodeError(f"{name} must be a str")
        try:
            raw = value.encode("latin-1")
        except UnicodeEncodeError:
            raise PduEncodeError(f"{name} has characters outside Latin-1") from None
        if b"\x00" in raw:
            raise PduEncodeError(f"{name} contains a NUL")
        if len(raw) >= size:
            raise PduEncodeError(f"{name} is longer than {size - 1} octets")
    elif kind == U8:
        if not isinstance(value, int) or not 0 <= value <= 0xFF:
            raise PduEncodeError(f"{name} {value!r} is not an octet")
    elif not isinstance(value, bytes) or len(value) > 254:
        raise PduEncodeError("short_message is longer than 254 octets: use message_payload")


def _check(pdu: p.Pdu) -> None:
    """Find the field that does not fit (the slow path, run only once encoding failed)."""
    for name in ("command_status", "sequence_number"):
        value = getattr(pdu, name)
        if not isinstance(value, int) or not 0 <= value <= 0xFFFFFFFF:
            raise PduEncodeError(f"{name} {value!r} is not a 32-bit unsigned number")
    for name, kind, size in LAYOUTS.get(type(pdu), ()):
        _check_field(pdu, name, kind, size)
    if isinstance(pdu, p.WithTlvs):
        for tag, value in pdu.tlvs:
            if not 0 <= tag <= 0xFFFF:
                raise PduEncodeError(f"TLV tag {tag!r} is not 16-bit")
            if not isinstance(value, bytes) or len(value) > 0xFFFF:
                raise PduEncodeError(f"TLV 0x{tag:04X} must be at most 65535 octets")


def _body_generic(pdu: p.Pdu) -> bytes:
    _check(pdu)  # not a hot path: validate every field first
    cls = type(pdu)
    if cls in _EMPTY_ON_ERROR and pdu.command_status and _is_empty(pdu):
        return b""  # an error response goes without a body (SMPP 3.4 4.4.2)
    out: list[bytes] = []
    for name, kind, _size in LAYOUTS[cls]:
        value = getattr(pdu, name)
        if kind == CSTR:
            out.append(value.encode("latin-1") + b"\x00")
        elif kind == U8:
            out.append(bytes((value,)))
        else:
            out.append(bytes((len(value),)) + value)
    if isinstance(pdu, p.WithTlvs) and pdu.tlvs:
        out.append(_tlv_bytes(pdu.tlvs))
    return b"".join(out)


def _is_empty(pdu: p.Pdu) -> bool:
    return all(not getattr(pdu, name) for name, _, _ in LAYOUTS[type(pdu)]) and not (
        isinstance(pdu, p.WithTlvs) and pdu.tlvs
    )


_SM_FORMAT = "%s\0%c%c%s\0%c%c%s\0%c%c%c%s\0%s\0%c%c%c%c%c"


def _body_short_message(x: p._ShortMessage) -> bytes:
    st, sa, da = x.service_type, x.source_addr, x.destination_addr
    sd, vp, sm = x.schedule_delivery_time, x.validity_period, x.short_message
    if (
        len(st) > 5
        or len(sa) > 20
        or len(da) > 20
        or len(sd) > 16
        or len(vp) > 16
        or len(sm) > 254
        or "\0" in st
        or "\0" in sa
        or "\0" in da
        or "\0" in sd
        or "\0" in vp
    ):
        _check(x)
    # One format over a latin-1 str: each octet field is a %c (a character < 256).
    body = (
        _SM_FORMAT
        % (
            st,
            x.source_addr_ton,
            x.source_addr_npi,
            sa,
            x.dest_addr_ton,
            x.dest_addr_npi,
            da,
            x.esm_class,
            x.protocol_id,
            x.priority_flag,
            sd,
            vp,
            x.registered_delivery,
            x.replace_if_present_flag,
            x.data_coding,
            x.sm_default_msg_id,
            len(sm),
        )
    ).encode("latin-1") + sm
    return body + _tlv_bytes(x.tlvs) if x.tlvs else body


def _body_message_id(x: p.SubmitSmResp | p.DeliverSmResp) -> bytes:
    message_id = x.message_id
    if x.command_status and not message_id and not x.tlvs and isinstance(x, p.SubmitSmResp):
        return b""
    if len(message_id) > 64 or "\0" in message_id:
        _check(x)
    body = message_id.encode("latin-1") + b"\x00"
    return body + _tlv_bytes(x.tlvs) if x.tlvs else body


def _body_none(x: p.Pdu) -> bytes:
    return b""


def _body_unknown(x: p.UnknownPdu) -> bytes:
    return x.body


# Keyed by exact type, so each function gets the class it is written for.
_ENCODERS: dict[type[p.Pdu], Callable[[Any], bytes]] = {cls: _body_generic for cls in LAYOUTS} | {
    p.SubmitSm: _body_short_message,
    p.DeliverSm: _body_short_message,
    p.SubmitSmResp: _body_message_id,
    p.DeliverSmResp: _body_message_id,
    p.EnquireLink: _body_none,
    p.EnquireLinkResp: _body_none,
    p.Unbind: _body_none,
    p.UnbindResp: _body_none,
    p.GenericNack: _body_none,
    p.UnknownPdu: _body_unknown,
}


def encode(pdu: p.Pdu) -> bytes:
    """The PDU's wire bytes. Raises ``PduEncodeError`` (a ValueError) naming a field that
    does not fit; then nothing was encoded."""
    body_of = _ENCODERS.get(type(pdu))
    try:
        if body_of is None:
            raise PduEncodeError(f"cannot encode {type(pdu).__name__}")
        body = body_of(pdu)
        return (
            _HEADER.pack(16 + len(body), pdu.command_id, pdu.command_status, pdu.sequence_number)
            + body
        )
    except PduEncodeError:
        raise
    except (ValueError, OverflowError, TypeError, AttributeError, struct.error) as exc:
        _check(pdu)
        raise PduEncodeError(f"{type(pdu).__name__}: {exc}") from None


def encode_generic(pdu: p.Pdu) -> bytes:
    """``encode`` through the layout table only (no hot paths): the reference for tests."""
    body = pdu.body if isinstance(pdu, p.UnknownPdu) else _body_generic(pdu)
    return (
        _HEADER.pack(16 + len(body), pdu.command_id, pdu.command_status, pdu.sequence_number) + body
    )


# --- reading -----------------------------------------------------------------------------


def _no_nul(data: bytes, pos: int, name: str, size: int) -> _Invalid:
    where = f"within {size} octets" if pos + size <= len(data) else "before the PDU ends"
    return _Invalid(
        f"{name} is not NUL-terminated {where}", _FIELD_STATUS.get(name, _S.ESME_RINVCMDLEN)
    )


def _read_tlvs(data: bytes, pos: int) -> p.Tlvs:
    found: p.Tlvs = []
    end = len(data)
    unpack = _TLV_HEAD.unpack_from
    while pos < end:
        if pos + 4 > end:
            raise _Invalid("truncated TLV header", _S.ESME_RINVOPTPARSTREAM)
        tag, size = unpack(data, pos)
        pos += 4
        stop = pos + size
        if stop > end:
            raise _Invalid(f"TLV 0x{tag:04X} runs past the end", _S.ESME_RINVPARLEN)
        found.append((tag, data[pos:stop]))
        pos = stop
    return found


def _read_generic(cls: type[p.Pdu], data: bytes, status: int, seq: int) -> p.Pdu:
    fields: dict[str, Any] = {}
    pos, end = 16, len(data)
    for name, kind, size in LAYOUTS[cls]:
        if kind == CSTR:
            stop = data.find(b"\x00", pos, pos + size)
            if stop < 0:
                raise _no_nul(data, pos, name, size)
            fields[name] = data[pos:stop].decode("latin-1")
            pos = stop + 1
        elif kind == U8:
            if pos >= end:
                raise _Invalid(f"PDU ends before {name}")
            fields[name] = data[pos]
            pos += 1
        else:
            if pos >= end:
                raise _Invalid("PDU ends before sm_length")
            stop = pos + 1 + data[pos]
            if stop > end:
                raise _Invalid("short_message runs past the end", _S.ESME_RINVMSGLEN)
            fields[name] = data[pos + 1 : stop]
            pos = stop
    if cls in _WITH_TLVS:
        fields["tlvs"] = _read_tlvs(data, pos)
    elif pos != end:
        raise _Invalid(f"{end - pos} unexpected octets after the body")
    return cls(command_status=status, sequence_number=seq, **fields)


_new = object.__new__


def _read_short_message(cls: type[p.SubmitSm | p.DeliverSm]) -> _Reader:
    # One latin-1 decode of the whole PDU, then str finds and slices: fewer calls than
    # decoding each field. The octet fields between strings are skipped on the way and
    # read at the end: the next string's NUL, found past them, proves they are there.
    # The object is filled without the dataclass __init__ (20 keyword arguments cost a
    # quarter of the decode); the tests compare it with the generic reader's.
    def read(data: bytes, status: int, seq: int) -> p.Pdu:
        text = data.decode("latin-1")
        find = text.find
        stop = find("\0", 16, 22)
        if stop < 0:
            raise _no_nul(data, 16, "service_type", 6)
        service_type = text[16:stop]
        source_at = stop + 1
        pos = source_at + 2
        stop = find("\0", pos, pos + 21)
        if stop < 0:
            raise _no_nul(data, pos, "source_addr", 21)
        source_addr = text[pos:stop]
        dest_at = stop + 1
        pos = dest_at + 2
        stop = find("\0", pos, pos + 21)
        if stop < 0:
            raise _no_nul(data, pos, "destination_addr", 21)
        destination_addr = text[pos:stop]
        esm_at = stop + 1
        pos = esm_at + 3
        stop = find("\0", pos, pos + 17)
        if stop < 0:
            raise _no_nul(data, pos, "schedule_delivery_time", 17)
        schedule = text[pos:stop]
        pos = stop + 1
        stop = find("\0", pos, pos + 17)
        if stop < 0:
            raise _no_nul(data, pos, "validity_period", 17)
        validity = text[pos:stop]
        registered, replace, coding, default_id, sm_length = _FIVE_OCTETS.unpack_from(
            data, stop + 1
        )
        pos = stop + 6
        end = pos + sm_length
        if end > len(data):
            raise _Invalid("short_message runs past the end", _S.ESME_RINVMSGLEN)
        x = _new(cls)
        x.command_status = status
        x.sequence_number = seq
        x.service_type = service_type
        x.source_addr_ton = data[source_at]
        x.source_addr_npi = data[source_at + 1]
        x.source_addr = source_addr
        x.dest_addr_ton = data[dest_at]
        x.dest_addr_npi = data[dest_at + 1]
        x.destination_addr = destination_addr
        x.esm_class = data[esm_at]
        x.protocol_id = data[esm_at + 1]
        x.priority_flag = data[esm_at + 2]
        x.schedule_delivery_time = schedule
        x.validity_period = validity
        x.registered_delivery = registered
        x.replace_if_present_flag = replace
        x.data_coding = coding
        x.sm_default_msg_id = default_id
        x.short_message = data[pos:end]
        x.tlvs = _read_tlvs(data, end) if end < len(data) else []
        return x

    return read


def _read_message_id(cls: type[p.SubmitSmResp | p.DeliverSmResp]) -> _Reader:
    def read(data: bytes, status: int, seq: int) -> p.Pdu:
        size = len(data)
        if size == 16:
            return cls(command_status=status, sequence_number=seq)
        stop = data.find(b"\x00", 16, 81)
        if stop != size - 1:  # not just a message id: TLVs, or malformed
            return _read_generic(cls, data, status, seq)
        x = _new(cls)
        x.command_status = status
        x.sequence_number = seq
        x.message_id = data[16:stop].decode("latin-1")
        x.tlvs = []
        return x

    return read


def _read_empty(cls: type[p.Pdu]) -> _Reader:
    def read(data: bytes, status: int, seq: int) -> p.Pdu:
        if len(data) != 16:
            raise _Invalid(f"{len(data) - 16} unexpected octets after the body")
        return cls(command_status=status, sequence_number=seq)

    return read


def _read_with(cls: type[p.Pdu]) -> _Reader:
    def read(data: bytes, status: int, seq: int) -> p.Pdu:
        return _read_generic(cls, data, status, seq)

    return read


_READERS: dict[int, _Reader] = {cls.COMMAND_ID: _read_with(cls) for cls in LAYOUTS} | {
    CommandId.SUBMIT_SM: _read_short_message(p.SubmitSm),
    CommandId.DELIVER_SM: _read_short_message(p.DeliverSm),
    CommandId.SUBMIT_SM_RESP: _read_message_id(p.SubmitSmResp),
    CommandId.DELIVER_SM_RESP: _read_message_id(p.DeliverSmResp),
    CommandId.ENQUIRE_LINK: _read_empty(p.EnquireLink),
    CommandId.ENQUIRE_LINK_RESP: _read_empty(p.EnquireLinkResp),
    CommandId.UNBIND: _read_empty(p.Unbind),
    CommandId.UNBIND_RESP: _read_empty(p.UnbindResp),
    CommandId.GENERIC_NACK: _read_empty(p.GenericNack),
}


def _failed(invalid: _Invalid, data: bytes, command_id: int, status: int, seq: int) -> p.Pdu:
    cls = _BY_ID[command_id]
    if status and (cls in _OPTIONAL_BODY or cls is p.GenericNack):
        # An error response's body carries nothing we need; its status must not be lost.
        return cls(command_status=status, sequence_number=seq)
    raise PduDecodeError(
        f"{cls.__name__}: {invalid}",
        sequence_number=seq,
        command_id=command_id,
        status=invalid.status,
    )


def decode(data: bytes | bytearray | memoryview, *, generic: bool = False) -> p.Pdu:
    """One whole PDU (header included) -> its dataclass; an unknown command id ->
    ``UnknownPdu``; anything malformed -> ``PduDecodeError`` (and nothing else).

    ``generic`` reads through the layout table only (the reference for tests)."""
    if not isinstance(data, bytes):
        data = bytes(data)
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
            body=data[16:],
        )
    try:
        if generic:
            return _read_generic(_BY_ID[command_id], data, status, seq)
        return reader(data, status, seq)
    except _Invalid as invalid:
        return _failed(invalid, data, command_id, status, seq)
    except (IndexError, struct.error):
        ended = _Invalid("PDU ends inside its mandatory fields")
        return _failed(ended, data, command_id, status, seq)


class Framer:
    """Cuts a byte stream into PDUs, across partial reads.

    ``feed`` returns decoded PDUs and ``PduDecodeError``s in stream order. A
    command_length outside 16..``max_length`` is a framing error (``in_sync`` False):
    the stream cannot be trusted after it, the framer stops, and the caller closes.
    """

    __slots__ = ("_broken", "_need", "_partial", "max_length")

    def __init__(self, max_length: int = MAX_PDU_LENGTH) -> None:
        self._partial = bytearray()
        self._need = 0  # octets the buffered partial PDU needs before it is worth a look
        self._broken = False
        self.max_length = max_length

    @property
    def broken(self) -> bool:
        return self._broken

    @property
    def buffered(self) -> int:
        return len(self._partial)

    def feed(self, data: bytes | bytearray | memoryview) -> list[p.Pdu | PduDecodeError]:
        if self._broken:
            return []
        partial = self._partial
        if partial:
            partial += data
            if len(partial) < self._need:
                return []
            buffer = bytes(partial)
            partial.clear()
        else:
            buffer = data if isinstance(data, bytes) else bytes(data)
        out: list[p.Pdu | PduDecodeError] = []
        pos, size, max_length = 0, len(buffer), self.max_length
        unpack = _U32.unpack_from
        while size - pos >= 4:
            (length,) = unpack(buffer, pos)
            if length < 16 or length > max_length:
                seq = unpack(buffer, pos + 12)[0] if size - pos >= 16 else None
                out.append(
                    PduDecodeError(
                        f"command_length {length} outside 16..{max_length}",
                        sequence_number=seq,
                        in_sync=False,
                    )
                )
                self._broken = True
                return out
            if size - pos < length:
                self._need = length
                break
            try:
                out.append(decode(buffer[pos : pos + length]))
            except PduDecodeError as error:
                out.append(error)
            pos += length
        else:
            self._need = 4
        if pos < size:
            partial += buffer[pos:]
        return out
