"""Delivery receipts from TLVs and text, and the message-id keys that correlate them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.config.settings import MessageIdForm as F
from bridge.smpp import pdu as p
from bridge.smpp.codec import decode, encode
from bridge.smpp.constants import MessageState, Tag
from bridge.smpp.ids import IdSide, normalise_message_id, receipt_id_key, submit_id_key
from bridge.smpp.receipts import (
    is_receipt,
    parse_date,
    parse_receipt,
    parse_receipt_text,
    parse_state,
)
from bridge.smpp.tlv import NetworkErrorCode

TEXT = "id:0A1F sub:001 dlvrd:001 submit date:2511251030 done date:2511251031 stat:DELIVRD err:000 text:Hello"


def dr(text: str = "", tlvs: p.Tlvs | None = None, esm: int = 0x04) -> p.DeliverSm:
    # Through the codec, as an SMSC's bytes would arrive.
    pdu = decode(encode(p.DeliverSm(esm_class=esm, short_message=text.encode(), tlvs=tlvs or [])))
    assert isinstance(pdu, p.DeliverSm)
    return pdu


def test_tlvs_come_first() -> None:
    pdu = dr(
        "id:zzz stat:EXPIRED err:999",
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
    assert (receipt.id_source, receipt.state_source) == ("tlv", "tlv")
    assert receipt.network_error == NetworkErrorCode(3, 11)
    assert receipt.final
    assert receipt.problems == ()


def test_tlv_only_receipt() -> None:
    receipt = parse_receipt(
        dr("", [(Tag.RECEIPTED_MESSAGE_ID, b"77\x00"), (Tag.MESSAGE_STATE, b"\x05")], esm=0)
    )
    assert (receipt.message_id, receipt.state) == ("77", MessageState.UNDELIVERABLE)
    assert receipt.problems == ()
    assert receipt.fields == {}


def test_text_only_receipt() -> None:
    receipt = parse_receipt(dr(TEXT))
    assert receipt.message_id == "0A1F"
    assert (receipt.id_source, receipt.state_source) == ("text", "text")
    assert receipt.state is MessageState.DELIVERED
    assert receipt.error_code == "000"
    assert (receipt.submitted, receipt.delivered) == (1, 1)
    assert receipt.submit_date == datetime(2025, 11, 25, 10, 30, tzinfo=UTC)
    assert receipt.done_date == datetime(2025, 11, 25, 10, 31, tzinfo=UTC)
    assert receipt.fields["text"] == "Hello"
    assert receipt.problems == ()


def test_receipt_in_message_payload_of_a_data_sm() -> None:
    pdu = p.DataSm(esm_class=0x04, tlvs=[(Tag.MESSAGE_PAYLOAD, TEXT.encode())])
    assert is_receipt(pdu)
    assert parse_receipt(pdu).message_id == "0A1F"


def test_ucs2_receipt_text() -> None:
    pdu = p.DeliverSm(esm_class=0x04, data_coding=8, short_message=TEXT.encode("utf-16-be"))
    assert parse_receipt(pdu).state is MessageState.DELIVERED


def test_twelve_digit_dates_odd_order_and_case() -> None:
    text = "STAT:undeliv  Done_Date:251125103159 ID:77 err:0b1 Submit date:251125103000 text:x"
    receipt = parse_receipt(dr(text))
    assert receipt.state is MessageState.UNDELIVERABLE
    assert receipt.message_id == "77"
    assert receipt.error_code == "0b1"
    assert receipt.done_date == datetime(2025, 11, 25, 10, 31, 59, tzinfo=UTC)
    assert receipt.submit_date == datetime(2025, 11, 25, 10, 30, 0, tzinfo=UTC)
    assert receipt.problems == ()


def test_extra_spaces_and_missing_fields() -> None:
    receipt = parse_receipt(dr("  id :  12345   stat :  DELIVRD  submit  date: 2511251030 "))
    assert (receipt.message_id, receipt.state) == ("12345", MessageState.DELIVERED)
    assert receipt.submit_date == datetime(2025, 11, 25, 10, 30, tzinfo=UTC)
    assert receipt.done_date is None
    assert receipt.error_code is None
    assert receipt.problems == ()


def test_the_text_field_may_contain_keys() -> None:
    fields = parse_receipt_text("id:1 stat:DELIVRD text:your id: 55 stat: ok text: x")
    assert fields == {"id": "1", "stat": "DELIVRD", "text": "your id: 55 stat: ok text: x"}
    # ...and a field not seen before still ends it (odd order).
    assert parse_receipt_text("text:hi there id:9 stat:EXPIRED") == {
        "text": "hi there",
        "id": "9",
        "stat": "EXPIRED",
    }


@pytest.mark.parametrize(
    ("value", "state"),
    [
        ("DELIVRD", MessageState.DELIVERED),
        ("delivered", MessageState.DELIVERED),
        ("EXPIRED", MessageState.EXPIRED),
        ("DELETED", MessageState.DELETED),
        ("UNDELIV", MessageState.UNDELIVERABLE),
        ("ACCEPTD", MessageState.ACCEPTED),
        ("UNKNOWN", MessageState.UNKNOWN),
        ("REJECTD", MessageState.REJECTED),
        ("ENROUTE", MessageState.ENROUTE),
        ("2", MessageState.DELIVERED),
        ("08", MessageState.REJECTED),
        ("9", None),
        ("0", None),
        ("WHAT", None),
        ("", None),
        ("٢", None),  # a non-ASCII digit is not a state number
    ],
)
def test_state_names_and_numbers(value: str, state: MessageState | None) -> None:
    assert parse_state(value) is state


@pytest.mark.parametrize(
    ("value", "date"),
    [
        ("2511251030", datetime(2025, 11, 25, 10, 30, tzinfo=UTC)),
        ("251125103059", datetime(2025, 11, 25, 10, 30, 59, tzinfo=UTC)),
        ("20251125103059", datetime(2025, 11, 25, 10, 30, 59, tzinfo=UTC)),
        ("2513251030", None),  # month 13
        ("25112510", None),
        ("25112510300", None),
        ("2511251030a", None),
        ("２５１１２５１０３０", None),  # full-width digits
        (None, None),
    ],
)
def test_dates(value: str | None, date: datetime | None) -> None:
    assert parse_date(value) == date


def test_intermediate_notification_and_accepted_are_not_final() -> None:
    receipt = parse_receipt(dr("id:1 stat:ACCEPTD", esm=0x20))
    assert receipt.state is MessageState.ACCEPTED
    assert receipt.intermediate
    assert not receipt.final


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage",
        "id: stat:WHAT",
        "submit date:99 id:5 stat:DELIVRD",
        "id:5 stat:DELIVRD done date:2599999999",
        "\x00\xff\x1b" * 20,
        "id:" + "9" * 5000 + " stat:DELIVRD",
    ],
)
def test_malformed_receipts_never_raise(text: str) -> None:
    receipt = parse_receipt(p.DeliverSm(esm_class=0x04, short_message=text.encode("latin-1")))
    assert receipt.problems


def test_malformed_tlvs_fall_back_to_the_text_with_a_note() -> None:
    receipt = parse_receipt(
        dr(TEXT, [(Tag.MESSAGE_STATE, b"\x00\x02"), (Tag.RECEIPTED_MESSAGE_ID, b"\x00")])
    )
    assert (receipt.message_id, receipt.state) == ("0A1F", MessageState.DELIVERED)
    assert (receipt.id_source, receipt.state_source) == ("text", "text")
    assert len(receipt.problems) == 2


@given(st.binary(max_size=300), st.integers(0, 255), st.integers(0, 255))
@settings(max_examples=500)
def test_receipt_parsing_never_raises(body: bytes, esm: int, coding: int) -> None:
    pdu = p.DeliverSm(esm_class=esm, data_coding=coding, short_message=body)
    parse_receipt(pdu)


@given(st.lists(st.sampled_from(["id:", "stat:", "text:", "err:", " ", "done date:", "x", "1"])))
def test_receipt_text_of_keys_only_never_raises(parts: list[str]) -> None:
    parse_receipt(dr("".join(parts)))


def test_is_receipt() -> None:
    assert is_receipt(dr(TEXT))
    assert is_receipt(dr("", [(Tag.RECEIPTED_MESSAGE_ID, b"1\x00")], esm=0))
    assert is_receipt(dr("", esm=0x08))  # SME delivery acknowledgement
    assert is_receipt(dr("", esm=0x20))  # intermediate notification
    assert is_receipt(dr("", esm=0x44))  # receipt with UDHI
    assert not is_receipt(dr("yes", esm=0x10))  # a manual ack carries the user's reply
    assert not is_receipt(p.DeliverSm(short_message=b"an MO"))
    assert not is_receipt(p.DeliverSm(esm_class=0x40, short_message=b"\x00"))


# --- message-id keys ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "submit_id", "receipt_id"),
    [
        (F.HEX_TO_DEC, "a1f", "2591"),
        (F.HEX_TO_DEC, "00A1F", "0002591"),
        (F.HEX_TO_DEC, "5A3B2C1D0E", "387539803406"),
        (F.DEC_TO_HEX, "2591", "A1F"),
        (F.DEC_TO_HEX, "2591", "00000a1f"),
        (F.AS_IS, "00AbC", "abc"),
        (F.AS_IS, " abc\x00", "ABC"),
        (F.AS_IS, "0", "000"),
    ],
)
def test_the_two_sides_of_one_id_get_one_key(form: F, submit_id: str, receipt_id: str) -> None:
    assert submit_id_key(submit_id, form) == receipt_id_key(receipt_id, form)
    assert normalise_message_id(submit_id, form, IdSide.SUBMIT) == normalise_message_id(
        receipt_id, form, IdSide.RECEIPT
    )


def test_canonical_keys() -> None:
    assert submit_id_key("00A1F", F.HEX_TO_DEC) == "2591"
    assert receipt_id_key("0002591", F.HEX_TO_DEC) == "2591"
    assert submit_id_key("00AbC", F.AS_IS) == "abc"
    assert submit_id_key("00AbC", F.AS_IS, strip_zeros=False, ignore_case=False) == "00AbC"


def test_ids_differ_when_they_should() -> None:
    assert submit_id_key("a1f", F.HEX_TO_DEC) != receipt_id_key("2592", F.HEX_TO_DEC)
    assert submit_id_key("abc", F.AS_IS, ignore_case=False) != receipt_id_key(
        "ABC", F.AS_IS, ignore_case=False
    )
    assert submit_id_key("0a", F.AS_IS, strip_zeros=False) != receipt_id_key(
        "a", F.AS_IS, strip_zeros=False
    )


@pytest.mark.parametrize("raw", ["xyz", "", "1_0", "+5", "-5", "0x1f", "١٢", "9" * 5000, " "])
def test_ids_that_are_not_numbers_degrade_to_as_is(raw: str) -> None:
    for form in F:
        for side in IdSide:
            key = normalise_message_id(raw, form, side)
            assert key == normalise_message_id(raw, F.AS_IS, side)


@given(st.integers(0, 2**64), st.integers(0, 3))
def test_hex_to_dec_matches_for_any_number(number: int, zeros: int) -> None:
    submit = "0" * zeros + format(number, "X")
    receipt = "0" * zeros + str(number)
    assert submit_id_key(submit, F.HEX_TO_DEC) == receipt_id_key(receipt, F.HEX_TO_DEC)
    assert submit_id_key(str(number), F.DEC_TO_HEX) == receipt_id_key(
        format(number, "x"), F.DEC_TO_HEX
    )
