"""Our SMPP 3.4 layer: codec, text, receipts, sessions and the bind pool.

The pure part (no I/O), re-exported here:

- ``pdu``: typed PDU dataclasses; ``codec``: ``encode``, ``decode``, ``Framer``,
  ``PduDecodeError``; ``tlv``: typed TLV values; ``constants``: ids, statuses, tags.
- ``text``: GSM 03.38 / Latin-1 / UCS-2 out, every listed data_coding in;
  ``segmentation``: part counts and the submit_sm PDUs of a long MT.
- ``receipts``: DRs from TLVs and text; ``inbound``: MOs and their concatenation;
  ``ids``: one correlation key for the id in submit_sm_resp and in DRs.

``session`` and ``pool`` (asyncio) build on these; import them from their modules.
"""

from bridge.smpp.codec import MAX_PDU_LENGTH, Framer, PduDecodeError, PduEncodeError, decode, encode
from bridge.smpp.constants import CommandId, CommandStatus, EsmClass, MessageState, Tag
from bridge.smpp.ids import IdSide, normalise_message_id, receipt_id_key, submit_id_key
from bridge.smpp.inbound import Concatenation, InboundMessage, join_parts, parse_mo
from bridge.smpp.pdu import (
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Outbind,
    Pdu,
    Sar,
    SubmitSm,
    SubmitSmResp,
    Tlvs,
    Unbind,
    UnbindResp,
    UnknownPdu,
)
from bridge.smpp.receipts import Receipt, is_receipt, parse_inbound, parse_receipt
from bridge.smpp.segmentation import (
    Segments,
    TooManyParts,
    count_parts,
    segment,
    submits,
    submits_for_text,
)
from bridge.smpp.text import (
    DataCoding,
    DecodedText,
    TextEncodeError,
    choose_coding,
    decode_text,
    encode_text,
)
from bridge.smpp.tlv import NetworkErrorCode, read_tlv, tlv_bytes

__all__ = [
    "MAX_PDU_LENGTH",
    "BindReceiver",
    "BindReceiverResp",
    "BindTransceiver",
    "BindTransceiverResp",
    "BindTransmitter",
    "BindTransmitterResp",
    "CommandId",
    "CommandStatus",
    "Concatenation",
    "DataCoding",
    "DataSm",
    "DataSmResp",
    "DecodedText",
    "DeliverSm",
    "DeliverSmResp",
    "EnquireLink",
    "EnquireLinkResp",
    "EsmClass",
    "Framer",
    "GenericNack",
    "IdSide",
    "InboundMessage",
    "MessageState",
    "NetworkErrorCode",
    "Outbind",
    "Pdu",
    "PduDecodeError",
    "PduEncodeError",
    "Receipt",
    "Sar",
    "Segments",
    "SubmitSm",
    "SubmitSmResp",
    "Tag",
    "TextEncodeError",
    "Tlvs",
    "TooManyParts",
    "Unbind",
    "UnbindResp",
    "UnknownPdu",
    "choose_coding",
    "count_parts",
    "decode",
    "decode_text",
    "encode",
    "encode_text",
    "is_receipt",
    "join_parts",
    "normalise_message_id",
    "parse_inbound",
    "parse_mo",
    "parse_receipt",
    "read_tlv",
    "receipt_id_key",
    "segment",
    "submit_id_key",
    "submits",
    "submits_for_text",
    "tlv_bytes",
]
