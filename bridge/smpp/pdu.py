"""SMPP 3.4 PDUs as typed dataclasses. Encoding and decoding live in ``bridge.smpp.codec``.

Every PDU keeps ``command_status`` as a plain int (any value, vendor ones included) and
its optional parameters as ``tlvs``: (tag, raw bytes) pairs in wire order, so a TLV the
bridge does not know is carried and re-encoded unchanged. Known TLVs are read as typed
values on demand (``tlv_value`` and the properties below, see ``bridge.smpp.tlv``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from bridge.smpp.constants import CommandId, Tag
from bridge.smpp.tlv import NetworkErrorCode, TlvValue, read_tlv, tlv_bytes

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


@dataclass(frozen=True, slots=True)
class Sar:
    """The SAR TLVs of one part: sar_msg_ref_num, sar_total_segments, sar_segment_seqnum."""

    reference: int
    total: int
    seq: int


@dataclass(slots=True, kw_only=True)
class WithTlvs(Pdu):
    tlvs: Tlvs = field(default_factory=list)

    def tlv(self, tag: int) -> bytes | None:
        """The raw value of the first TLV with this tag."""
        for t, value in self.tlvs:
            if t == tag:
                return value
        return None

    def tlv_value(self, tag: int) -> TlvValue | None:
        """The typed value (``bridge.smpp.tlv.read_tlv``); None if absent or unreadable."""
        raw = self.tlv(tag)
        return None if raw is None else read_tlv(tag, raw)

    def tlv_int(self, tag: int) -> int | None:
        """Any non-empty value read as a big-endian number (lenient about its size)."""
        value = self.tlv(tag)
        return int.from_bytes(value, "big") if value else None

    def tlv_cstring(self, tag: int) -> str | None:
        value = self.tlv(tag)
        if value is None:
            return None
        end = value.find(b"\x00")
        return (value if end < 0 else value[:end]).decode("latin-1")

    def set_tlv(self, tag: int, value: TlvValue) -> None:
        """Replace the TLV with this tag (or append it), encoding a typed value strictly."""
        raw = tlv_bytes(tag, value)
        for i, (t, _) in enumerate(self.tlvs):
            if t == tag:
                self.tlvs[i] = (tag, raw)
                return
        self.tlvs.append((tag, raw))

    def set_tlv_int(self, tag: int, value: int, size: int) -> None:
        self.tlvs.append((tag, value.to_bytes(size, "big")))

    def _typed_int(self, tag: int) -> int | None:
        value = self.tlv_value(tag)
        return value if isinstance(value, int) else None

    # The TLVs the bridge reads, typed. None: absent, or not of the size the spec gives.

    @property
    def receipted_message_id(self) -> str | None:
        value = self.tlv_value(Tag.RECEIPTED_MESSAGE_ID)
        return value if isinstance(value, str) else None

    @property
    def message_state(self) -> int | None:
        return self._typed_int(Tag.MESSAGE_STATE)

    @property
    def network_error_code(self) -> NetworkErrorCode | None:
        value = self.tlv_value(Tag.NETWORK_ERROR_CODE)
        return value if isinstance(value, NetworkErrorCode) else None

    @property
    def message_payload(self) -> bytes | None:
        return self.tlv(Tag.MESSAGE_PAYLOAD)

    @property
    def sar(self) -> Sar | None:
        """All three SAR TLVs, or None when any is missing or malformed."""
        ref = self._typed_int(Tag.SAR_MSG_REF_NUM)
        total = self._typed_int(Tag.SAR_TOTAL_SEGMENTS)
        seq = self._typed_int(Tag.SAR_SEGMENT_SEQNUM)
        if ref is None or total is None or seq is None:
            return None
        return Sar(ref, total, seq)

    @property
    def user_message_reference(self) -> int | None:
        return self._typed_int(Tag.USER_MESSAGE_REFERENCE)

    @property
    def source_port(self) -> int | None:
        return self._typed_int(Tag.SOURCE_PORT)

    @property
    def destination_port(self) -> int | None:
        return self._typed_int(Tag.DESTINATION_PORT)

    @property
    def more_messages_to_send(self) -> int | None:
        return self._typed_int(Tag.MORE_MESSAGES_TO_SEND)


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


# SMPP 3.4 gives submit_sm_resp and deliver_sm_resp no TLVs; SMPP 5.0 SMSCs add some. They
# are kept rather than refused: refusing an accepted MT's response would make it "unknown".


@dataclass(slots=True, kw_only=True)
class SubmitSmResp(WithTlvs):
    COMMAND_ID: ClassVar[int] = CommandId.SUBMIT_SM_RESP
    message_id: str = ""


@dataclass(slots=True, kw_only=True)
class DeliverSmResp(WithTlvs):
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
