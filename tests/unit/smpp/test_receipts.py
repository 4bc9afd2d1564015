"""Delivery receipts from TLVs and text, message-id keys, MO concatenation data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bridge.config.settings import MessageIdForm as F
from bridge.smpp import pdu as p
from bridge.smpp.constants import MessageState, Tag
from bridge.smpp.ids import receipt_id_key, submit_id_key
from bridge.smpp.receipts import is_receipt, parse_mo, parse_receipt, parse_receipt_text
from bridge.smpp.text import encode_gsm

TEXT = "id:0A1F sub:001 dlvrd:001 submit date:2511251030 done date:2511251031 stat:DELIVRD err:000 text:Hello"


def dr(text: str = "", tlvs: p.Tlvs | None = None, esm: int = 0x04) -> p.DeliverSm:
    return p.DeliverSm(esm_class=esm, short_message=text.encode(), tlvs=tlvs or [])


def test_tlvs_come_first() -> None:
    pdu = dr(
        "id:zzz stat:EXPIRED",
        [
            (Tag.RECEIPTED_MESSAGE_ID, b"a1f\x00"),
            (Tag.MESSAGE_STATE, b"\x02"),
            (Tag.NETWORK_ERROR_CODE, b"\x03\x00\x0b"),
        ],
    )
    receipt = parse_receipt(pdu)
    assert (receipt.message_id, receipt.state, receipt.error_code) == (
        "a1f",
        MessageState.DELIVERED,
        "3:11",
    )
    assert receipt.final
    assert receipt.problems == ()


def test_text_only_receipt() -> None:
    receipt = parse_receipt(dr(TEXT))
    assert receipt.message_id == "0A1F"
    assert receipt.state is MessageState.DELIVERED
    assert receipt.error_code == "000"
    assert receipt.submit_date == datetime(2025, 11, 25, 10, 30, tzinfo=UTC)
    assert receipt.fields["text"] == "Hello"


def test_twelve_digit_dates_odd_order_and_case() -> None:
    text = "STAT:undeliv  Done_Date:251125103159 ID:77 err:0b1 Submit date:251125103000 text:x"
    receipt = parse_receipt(dr(text))
    assert receipt.state is MessageState.UNDELIVERABLE
    assert receipt.message_id == "77"
    assert receipt.done_date == datetime(2025, 11, 25, 10, 31, 59, tzinfo=UTC)
    assert receipt.submit_date == datetime(2025, 11, 25, 10, 30, 0, tzinfo=UTC)


def test_intermediate_notification_and_accepted_are_not_final() -> None:
    receipt = parse_receipt(dr("id:1 stat:ACCEPTD", esm=0x20))
    assert receipt.state is MessageState.ACCEPTED
    assert not receipt.final


@pytest.mark.parametrize(
    "text", ["", "garbage", "id: stat:WHAT", "submit date:99 id:5 stat:DELIVRD"]
)
def test_malformed_receipts_never_raise(text: str) -> None:
    receipt = parse_receipt(dr(text))
    assert receipt.problems


def test_is_receipt() -> None:
    assert is_receipt(dr(TEXT))
    assert is_receipt(dr("", [(Tag.RECEIPTED_MESSAGE_ID, b"1\x00")], esm=0))
    assert not is_receipt(p.DeliverSm(short_message=b"an MO"))


def test_receipt_text_fields() -> None:
    assert parse_receipt_text(TEXT)["done date"] == "2511251031"


@pytest.mark.parametrize(
    ("form", "submit_id", "receipt_id"),
    [
        (F.HEX_TO_DEC, "a1f", "2591"),
        (F.HEX_TO_DEC, "00A1F", "0002591"),
        (F.DEC_TO_HEX, "2591", "A1F"),
        (F.AS_IS, "00AbC", "abc"),
    ],
)
def test_the_two_sides_of_one_id_get_one_key(form: F, submit_id: str, receipt_id: str) -> None:
    assert submit_id_key(submit_id, form) == receipt_id_key(receipt_id, form)


def test_ids_differ_when_they_should() -> None:
    assert submit_id_key("a1f", F.HEX_TO_DEC) != receipt_id_key("2592", F.HEX_TO_DEC)
    assert submit_id_key("abc", F.AS_IS, ignore_case=False) != receipt_id_key(
        "ABC", F.AS_IS, ignore_case=False
    )
    # A misconfigured SMSC degrades to as-is, never raises.
    assert receipt_id_key("xyz", F.HEX_TO_DEC) == "xyz"


def test_mo_with_8_and_16_bit_udh_and_sar() -> None:
    udh8 = p.DeliverSm(
        esm_class=0x40,
        source_addr="447700900123",
        destination_addr="60006",
        short_message=bytes((5, 0, 3, 0x2A, 3, 2)) + encode_gsm("part two"),
    )
    mo = parse_mo(udh8)
    assert mo.concatenation is not None
    assert (
        mo.concatenation.reference,
        mo.concatenation.total,
        mo.concatenation.seq,
        mo.concatenation.bits,
    ) == (0x2A, 3, 2, 8)
    assert mo.text.text == "part two"

    udh16 = p.DeliverSm(
        esm_class=0x40,
        data_coding=8,
        short_message=bytes((6, 8, 4, 0xBE, 0xEF, 3, 3)) + "Ж😀".encode("utf-16-be"),
    )
    mo = parse_mo(udh16)
    assert mo.concatenation is not None
    assert (mo.concatenation.reference, mo.concatenation.bits) == (0xBEEF, 16)
    assert mo.text.text == "Ж😀"

    sar = p.DeliverSm(
        short_message=b"hi",
        tlvs=[
            (Tag.SAR_MSG_REF_NUM, b"\x00\x07"),
            (Tag.SAR_TOTAL_SEGMENTS, b"\x02"),
            (Tag.SAR_SEGMENT_SEQNUM, b"\x01"),
        ],
    )
    mo = parse_mo(sar)
    assert mo.concatenation is not None
    assert (mo.concatenation.reference, mo.concatenation.total, mo.concatenation.seq) == (7, 2, 1)


def test_a_lying_udh_is_flagged_not_raised() -> None:
    mo = parse_mo(p.DeliverSm(esm_class=0x40, short_message=bytes((40, 0, 3))))
    assert mo.problem == "UDH length 40 runs past the body"
    assert mo.text.raw == bytes((40, 0, 3))
