"""SMPP 3.4 PDUs as typed dataclasses. Encoding and decoding live in ``bridge.smpp.codec``.

Every PDU keeps ``command_status`` as a plain int (any value, vendor ones included) and
its optional parameters as ``tlvs``: (tag, raw bytes) pairs in wire order, so a TLV the
bridge does not know is carried and re-encoded unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from bridge.smpp.constants import CommandId, Tag

Tlvs = list[tuple[int, bytes]]


@dataclass(slots=True, kw_only=True)
class Pdu:
    COMMAND_ID: ClassVar[int] = 0
    command_status: int = 0
    sequence_number: int = 0

    @property
    def command_id(self) -> int:
        return self.COMMAND_ID

    @property
    def is_response(self) -> bool:
        return bool(self.COMMAND_ID & 0x80000000)


@dataclass(slots=True, kw_only=True)
class WithTlvs(Pdu):
    tlvs: Tlvs = field(default_factory=list)

    def tlv(self, tag: int) -> bytes | None:
        for t, value in self.tlvs:
            if t == tag:
                return value
        return None

    def tlv_int(self, tag: int) -> int | None:
        value = self.tlv(tag)
        return int.from_bytes(value, "big") if value else None

    def tlv_cstring(self, tag: int) -> str | None:
        value = self.tlv(tag)
        return value.rstrip(b"\x00").decode("latin-1") if value is not None else None

    def set_tlv_int(self, tag: int, value: int, size: int) -> None:
        self.tlvs.append((tag, value.to_bytes(size, "big")))


# --- binds -------------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class _Bind(Pdu):
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    interface_version: int = 0x34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""


@dataclass(slots=True, kw_only=True)
class BindTransmitter(_Bind):
    COMMAND_ID: ClassVar[int] = CommandId.BIND_TRANSMITTER


@dataclass(slots=True, kw_only=True)
class BindReceiver(_Bind):
    COMMAND_ID: ClassVar[int] = CommandId.BIND_RECEIVER


@dataclass(slots=True, kw_only=True)
class BindTransceiver(_Bind):
    COMMAND_ID: ClassVar[int] = CommandId.BIND_TRANSCEIVER


@dataclass(slots=True, kw_only=True)
class _BindResp(WithTlvs):
    system_id: str = ""


@dataclass(slots=True, kw_only=True)
class BindTransmitterResp(_BindResp):
    COMMAND_ID: ClassVar[int] = CommandId.BIND_TRANSMITTER_RESP


@dataclass(slots=True, kw_only=True)
class BindReceiverResp(_BindResp):
    COMMAND_ID: ClassVar[int] = CommandId.BIND_RECEIVER_RESP


@dataclass(slots=True, kw_only=True)
class BindTransceiverResp(_BindResp):
    COMMAND_ID: ClassVar[int] = CommandId.BIND_TRANSCEIVER_RESP


@dataclass(slots=True, kw_only=True)
class Outbind(Pdu):
    COMMAND_ID: ClassVar[int] = CommandId.OUTBIND
    system_id: str = ""
    password: str = ""


# --- messages ----------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class _ShortMessage(WithTlvs):
    """The shared layout of submit_sm and deliver_sm."""

    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""

    @property
    def payload(self) -> bytes:
        """The user data: short_message, or the message_payload TLV when that is used."""
        payload = self.tlv(Tag.MESSAGE_PAYLOAD)
        return payload if payload is not None and not self.short_message else self.short_message


@dataclass(slots=True, kw_only=True)
class SubmitSm(_ShortMessage):
    COMMAND_ID: ClassVar[int] = CommandId.SUBMIT_SM


@dataclass(slots=True, kw_only=True)
class DeliverSm(_ShortMessage):
    COMMAND_ID: ClassVar[int] = CommandId.DELIVER_SM


@dataclass(slots=True, kw_only=True)
class DataSm(WithTlvs):
    COMMAND_ID: ClassVar[int] = CommandId.DATA_SM
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0

    @property
    def payload(self) -> bytes:
        return self.tlv(Tag.MESSAGE_PAYLOAD) or b""


@dataclass(slots=True, kw_only=True)
class SubmitSmResp(Pdu):
    COMMAND_ID: ClassVar[int] = CommandId.SUBMIT_SM_RESP
    message_id: str = ""


@dataclass(slots=True, kw_only=True)
class DeliverSmResp(Pdu):
    COMMAND_ID: ClassVar[int] = CommandId.DELIVER_SM_RESP
    message_id: str = ""


@dataclass(slots=True, kw_only=True)
class DataSmResp(WithTlvs):
    COMMAND_ID: ClassVar[int] = CommandId.DATA_SM_RESP
    message_id: str = ""


# --- session management ------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class EnquireLink(Pdu):
    COMMAND_ID: ClassVar[int] = CommandId.ENQUIRE_LINK


@dataclass(slots=True, kw_only=True)
class EnquireLinkResp(Pdu):
    COMMAND_ID: ClassVar[int] = CommandId.ENQUIRE_LINK_RESP


@dataclass(slots=True, kw_only=True)
class Unbind(Pdu):
    COMMAND_ID: ClassVar[int] = CommandId.UNBIND


@dataclass(slots=True, kw_only=True)
class UnbindResp(Pdu):
    COMMAND_ID: ClassVar[int] = CommandId.UNBIND_RESP


@dataclass(slots=True, kw_only=True)
class GenericNack(Pdu):
    COMMAND_ID: ClassVar[int] = CommandId.GENERIC_NACK


@dataclass(slots=True, kw_only=True)
class UnknownPdu(Pdu):
    """A command id this layer does not know: the session answers generic_nack."""

    unknown_command_id: int = 0
    body: bytes = b""

    @property
    def command_id(self) -> int:
        return self.unknown_command_id

    @property
    def is_response(self) -> bool:
        return bool(self.unknown_command_id & 0x80000000)
