"""Typed values of SMPP 3.4 TLVs (optional parameters).

PDUs carry their TLVs as raw ``(tag, bytes)`` pairs in wire order: that is what makes an
unknown or vendor TLV survive a decode/encode round trip unchanged, and it keeps decoding
fast (most TLVs are never looked at). This module gives the known tags their types, read
on demand:

- ``read_tlv(tag, raw)`` -> ``int`` / ``str`` / ``bytes`` / ``NetworkErrorCode``, or None
  when the bytes do not fit the tag's type. Reading is lenient on purpose: a DR whose
  message_state TLV has the wrong length must still be stored (the text is the fallback),
  so a bad TLV never makes the PDU undecodable or raises.
- ``tlv_bytes(tag, value)`` -> wire bytes, strict: a value that does not fit raises
  ``ValueError`` before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from bridge.smpp.constants import Tag


class Kind(Enum):
    INT = "int"  # unsigned, big-endian, of ``size`` octets
    CSTRING = "cstring"  # C-octet string of at most ``size`` octets with its NUL
    OCTETS = "octets"  # opaque octets of at most ``size`` octets
    NETWORK_ERROR = "network_error"  # network type (1 octet) + error code (2 octets)
    EMPTY = "empty"  # presence is the value (alert_on_message_delivery)


@dataclass(frozen=True, slots=True)
class TlvSpec:
    name: str
    kind: Kind
    size: int


@dataclass(frozen=True, slots=True)
class NetworkErrorCode:
    """network_error_code: the network type (1 ANSI-136, 2 IS-95, 3 GSM, ...) and its code."""

    network_type: int
    error_code: int

    def __str__(self) -> str:
        return f"{self.network_type}:{self.error_code}"


TlvValue = int | str | bytes | NetworkErrorCode

_I, _C, _O = Kind.INT, Kind.CSTRING, Kind.OCTETS
SPECS: dict[int, TlvSpec] = {
    spec_tag: TlvSpec(spec_tag.name.lower(), kind, size)
    for spec_tag, kind, size in (
        (Tag.DEST_ADDR_SUBUNIT, _I, 1),
        (Tag.DEST_NETWORK_TYPE, _I, 1),
        (Tag.DEST_BEARER_TYPE, _I, 1),
        (Tag.DEST_TELEMATICS_ID, _I, 2),
        (Tag.SOURCE_ADDR_SUBUNIT, _I, 1),
        (Tag.SOURCE_NETWORK_TYPE, _I, 1),
        (Tag.SOURCE_BEARER_TYPE, _I, 1),
        (Tag.SOURCE_TELEMATICS_ID, _I, 1),
        (Tag.QOS_TIME_TO_LIVE, _I, 4),
        (Tag.PAYLOAD_TYPE, _I, 1),
        (Tag.ADDITIONAL_STATUS_INFO_TEXT, _C, 256),
        (Tag.RECEIPTED_MESSAGE_ID, _C, 65),
        (Tag.MS_MSG_WAIT_FACILITIES, _I, 1),
        (Tag.PRIVACY_INDICATOR, _I, 1),
        (Tag.SOURCE_SUBADDRESS, _O, 23),
        (Tag.DEST_SUBADDRESS, _O, 23),
        (Tag.USER_MESSAGE_REFERENCE, _I, 2),
        (Tag.USER_RESPONSE_CODE, _I, 1),
        (Tag.SOURCE_PORT, _I, 2),
        (Tag.DESTINATION_PORT, _I, 2),
        (Tag.SAR_MSG_REF_NUM, _I, 2),
        (Tag.LANGUAGE_INDICATOR, _I, 1),
        (Tag.SAR_TOTAL_SEGMENTS, _I, 1),
        (Tag.SAR_SEGMENT_SEQNUM, _I, 1),
        (Tag.SC_INTERFACE_VERSION, _I, 1),
        (Tag.CALLBACK_NUM_PRES_IND, _I, 1),
        (Tag.CALLBACK_NUM_ATAG, _O, 65),
        (Tag.NUMBER_OF_MESSAGES, _I, 1),
        (Tag.CALLBACK_NUM, _O, 19),
        (Tag.DPF_RESULT, _I, 1),
        (Tag.SET_DPF, _I, 1),
        (Tag.MS_AVAILABILITY_STATUS, _I, 1),
        (Tag.NETWORK_ERROR_CODE, Kind.NETWORK_ERROR, 3),
        (Tag.MESSAGE_PAYLOAD, _O, 0xFFFF),
        (Tag.DELIVERY_FAILURE_REASON, _I, 1),
        (Tag.MORE_MESSAGES_TO_SEND, _I, 1),
        (Tag.MESSAGE_STATE, _I, 1),
        (Tag.USSD_SERVICE_OP, _I, 1),
        (Tag.DISPLAY_TIME, _I, 1),
        (Tag.SMS_SIGNAL, _I, 2),
        (Tag.MS_VALIDITY, _I, 1),
        (Tag.ALERT_ON_MESSAGE_DELIVERY, Kind.EMPTY, 0),
        (Tag.ITS_REPLY_TYPE, _I, 1),
        (Tag.ITS_SESSION_INFO, _I, 2),
    )
}


def tlv_name(tag: int) -> str:
    spec = SPECS.get(tag)
    return spec.name if spec is not None else f"tlv_0x{tag:04X}"


def read_tlv(tag: int, raw: bytes) -> TlvValue | None:
    """The typed value of a TLV; raw bytes for an unknown tag; None if it does not fit."""
    spec = SPECS.get(tag)
    if spec is None:
        return raw
    kind = spec.kind
    if kind is Kind.INT:
        # Exact size only: a 2-octet message_state is not a state we should guess at.
        return int.from_bytes(raw, "big") if len(raw) == spec.size else None
    if kind is Kind.CSTRING:
        # Lenient: some SMSCs omit the NUL; anything after a NUL is not part of the value.
        if len(raw) > spec.size:
            return None
        end = raw.find(b"\x00")
        return (raw if end < 0 else raw[:end]).decode("latin-1")
    if kind is Kind.NETWORK_ERROR:
        if len(raw) != 3:
            return None
        return NetworkErrorCode(raw[0], int.from_bytes(raw[1:], "big"))
    if kind is Kind.EMPTY:
        return b"" if not raw else None
    return raw if len(raw) <= spec.size else None


def tlv_bytes(tag: int, value: TlvValue) -> bytes:
    """The wire value of a TLV (without tag and length). Raises ValueError if it does not fit."""
    if not 0 <= tag <= 0xFFFF:
        raise ValueError(f"TLV tag {tag} is not 16-bit")
    spec = SPECS.get(tag)
    if spec is None:
        if not isinstance(value, bytes):
            raise ValueError(f"unknown TLV 0x{tag:04X} needs raw bytes")
        return value
    kind, size = spec.kind, spec.size
    if kind is Kind.INT and isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < 1 << (8 * size):
            raise ValueError(f"{spec.name} {value} does not fit {size} octet(s)")
        return value.to_bytes(size, "big")
    if kind is Kind.CSTRING and isinstance(value, str):
        raw = value.encode("latin-1")
        if b"\x00" in raw or len(raw) >= size:
            raise ValueError(f"{spec.name} must be under {size} octets, without NUL")
        return raw + b"\x00"
    if kind is Kind.NETWORK_ERROR and isinstance(value, NetworkErrorCode):
        if not (0 <= value.network_type <= 0xFF and 0 <= value.error_code <= 0xFFFF):
            raise ValueError(f"{spec.name} {value} out of range")
        return bytes((value.network_type,)) + value.error_code.to_bytes(2, "big")
    if kind in (Kind.OCTETS, Kind.EMPTY) and isinstance(value, bytes):
        if len(value) > size:
            raise ValueError(f"{spec.name} is longer than {size} octets")
        return value
    raise ValueError(f"{spec.name} takes a {kind.value} value, not {type(value).__name__}")
