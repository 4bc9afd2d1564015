"""Alphabets, part counts as handsets count them, segmentation, inbound decoding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.config.settings import LongMessageMethod as L
from bridge.smpp import pdu as p
from bridge.smpp.constants import Tag
from bridge.smpp.segmentation import count_parts, segment, submits
from bridge.smpp.text import (
    GSM_BASIC,
    GSM_EXTENSION,
    DataCoding,
    choose_coding,
    decode_gsm,
    decode_text,
    encode_gsm,
)


def test_every_gsm_character_round_trips() -> None:
    for ch in GSM_BASIC.replace("\x1b", "") + "".join(GSM_EXTENSION):
        assert decode_gsm(encode_gsm(ch)) == ch
    assert len(encode_gsm("€[]")) == 6  # escapes count two septets


@given(st.text(alphabet=GSM_BASIC.replace("\x1b", "") + "".join(GSM_EXTENSION), max_size=500))
def test_gsm_text_round_trips_through_its_parts(text: str) -> None:
    for method in (L.UDH8, L.UDH16, L.SAR):
        segments = segment(text, method)
        assert segments.coding is DataCoding.GSM
        assert decode_gsm(b"".join(segments.bodies)) == text
        assert all(not body.endswith(b"\x1b") for body in segments.bodies)


@given(st.text(max_size=300).filter(lambda t: not all(c in GSM_BASIC for c in t)))
def test_ucs2_never_splits_a_surrogate_pair(text: str) -> None:
    segments = segment(text, L.UDH8, DataCoding.UCS2)
    for body in segments.bodies:
        assert len(body) % 2 == 0
        body.decode("utf-16-be")  # raises on a split pair
    assert b"".join(segments.bodies).decode("utf-16-be") == text


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),
        ("€" * 81, 2),  # 162 septets
        ("Ж" * 70, 1),
        ("Ж" * 71, 2),
        ("Ж" * 134, 2),
        ("Ж" * 135, 3),
        ("😀" * 35, 1),
        ("😀" * 36, 2),  # each emoji is two UCS-2 units
    ],
)
def test_part_counts_as_handsets_count(text: str, parts: int) -> None:
    assert count_parts(text) == parts


def test_escape_at_the_boundary_moves_to_the_next_part() -> None:
    text = "a" * 152 + "€" + "b" * 10  # the escape pair would straddle septets 153/154
    bodies = segment(text, L.UDH8).bodies
    assert [len(b) for b in bodies] == [152, 12]


def test_coding_choice() -> None:
    assert choose_coding("Hello {world} €") is DataCoding.GSM
    assert choose_coding("Привет") is DataCoding.UCS2


def test_udh8_udh16_sar_and_payload_pdus() -> None:
    template = p.SubmitSm(
        source_addr="ACME", destination_addr="447700900123", registered_delivery=1
    )
    text = "x" * 200
    udh8 = submits(template, segment(text, L.UDH8), reference=0x1A)
    assert [s.short_message[:6] for s in udh8] == [
        bytes((5, 0, 3, 0x1A, 2, 1)),
        bytes((5, 0, 3, 0x1A, 2, 2)),
    ]
    assert all(s.esm_class & 0x40 for s in udh8)
    udh16 = submits(template, segment(text, L.UDH16), reference=0x1234)
    assert udh16[1].short_message[:7] == bytes((6, 8, 4, 0x12, 0x34, 2, 2))
    assert len(udh16[0].short_message) == 7 + 152
    sar = submits(template, segment(text, L.SAR), reference=0x0102)
    assert sar[0].esm_class == 0
    assert sar[1].tlv(Tag.SAR_SEGMENT_SEQNUM) == b"\x02"
    assert sar[1].tlv(Tag.SAR_MSG_REF_NUM) == b"\x01\x02"
    payload = submits(template, segment("y" * 400, L.PAYLOAD), reference=1)
    assert len(payload) == 1
    assert payload[0].short_message == b""
    assert payload[0].tlv(Tag.MESSAGE_PAYLOAD) == b"y" * 400
    assert all(
        s.registered_delivery == 1 and s.destination_addr == "447700900123" for s in udh8 + sar
    )


@pytest.mark.parametrize(
    ("coding", "raw", "text"),
    [
        (0x00, encode_gsm("Hi €"), "Hi €"),
        (0x01, b"plain", "plain"),
        (0x02, encode_gsm("@home"), "@home"),
        (0x03, "café".encode("latin-1"), "café"),
        (0x05, "ｱｲｳ".encode("shift_jis"), "ｱｲｳ"),
        (0x06, "Привет".encode("iso8859-5"), "Привет"),
        (0x07, "שלום".encode("iso8859-8"), "שלום"),
        (0x08, "Привет 😀".encode("utf-16-be"), "Привет 😀"),
        (0x0A, "日本".encode("iso2022_jp"), "日本"),
        (0x0D, "日本".encode("euc_jis_2004"), "日本"),
        (0x0E, "한국".encode("euc_kr"), "한국"),
        (0x11, encode_gsm("class 1"), "class 1"),
        (0x18, "Ж".encode("utf-16-be"), "Ж"),
        (0xF1, encode_gsm("flash"), "flash"),
    ],
)
def test_inbound_decoding_for_every_listed_coding(coding: int, raw: bytes, text: str) -> None:
    decoded = decode_text(raw, coding)
    assert (decoded.text, decoded.decode_error) == (text, None)


@pytest.mark.parametrize(
    ("coding", "raw"), [(0x08, b"\xd8\x00"), (0x00, b"\xff"), (0xF4, b"\x01\x02"), (0x42, b"zz")]
)
def test_undecodable_bodies_are_kept_and_flagged(coding: int, raw: bytes) -> None:
    decoded = decode_text(raw, coding)
    assert decoded.text is None
    assert decoded.raw == raw
    assert decoded.decode_error
