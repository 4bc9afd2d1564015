"""Alphabets, part counts as handsets count them, segmentation, inbound decoding."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.config.settings import LongMessageMethod as L
from bridge.smpp import pdu as p
from bridge.smpp.codec import decode, encode
from bridge.smpp.constants import Tag
from bridge.smpp.segmentation import (
    TooManyParts,
    count_parts,
    part_limit,
    segment,
    submits,
    submits_for_text,
)
from bridge.smpp.text import (
    GSM_BASIC,
    GSM_EXTENSION,
    DataCoding,
    TextEncodeError,
    choose_coding,
    decode_gsm,
    decode_text,
    encode_gsm,
    encode_text,
    gsm_septet_count,
)

GSM_TEXT = GSM_BASIC.replace("\x1b", "") + "".join(GSM_EXTENSION)


# --- GSM 03.38 ---------------------------------------------------------------------------


def test_every_gsm_character_round_trips_at_its_code() -> None:
    for code, ch in enumerate(GSM_BASIC):
        if code == 0x1B:
            continue
        assert encode_gsm(ch) == bytes((code,))
        assert decode_gsm(bytes((code,))) == ch
    for ch, code in GSM_EXTENSION.items():
        assert encode_gsm(ch) == bytes((0x1B, code))
        assert decode_gsm(bytes((0x1B, code))) == ch


def test_spot_checks_against_3gpp_23_038() -> None:
    assert encode_gsm("@£$¥") == b"\x00\x01\x02\x03"
    assert encode_gsm("Δ_ÆÉ ¤¡Ä§¿äà") == bytes(
        [0x10, 0x11, 0x1C, 0x1F, 0x20, 0x24, 0x40, 0x5B, 0x5F, 0x60, 0x7B, 0x7F]
    )
    assert encode_gsm("€") == b"\x1b\x65"
    assert encode_gsm("^{}\\[~]|\f") == bytes.fromhex("1b141b281b291b2f1b3c1b3d1b3e1b401b0a")


def test_escape_counting() -> None:
    assert len(encode_gsm("€[]")) == 6
    assert gsm_septet_count("a€[]b") == 8
    assert gsm_septet_count("Привет") is None
    assert gsm_septet_count("") == 0


def test_unknown_escape_shows_the_basic_character() -> None:
    assert decode_gsm(b"\x1b\x41") == "A"
    assert decode_gsm(b"ab\x1b") == "ab"  # a lone trailing escape is dropped


@given(st.text(alphabet=GSM_TEXT, max_size=400))
def test_gsm_text_round_trips(text: str) -> None:
    assert decode_gsm(encode_gsm(text)) == text
    assert gsm_septet_count(text) == len(encode_gsm(text))


def test_coding_choice_and_forcing() -> None:
    assert choose_coding("Hello {world} €") is DataCoding.GSM
    assert choose_coding("Привет") is DataCoding.UCS2
    assert choose_coding("naïve") is DataCoding.UCS2  # ï is not in GSM 03.38
    assert choose_coding("`") is DataCoding.UCS2  # nor is the backtick
    assert encode_text("café", DataCoding.LATIN1) == (DataCoding.LATIN1, b"caf\xe9")
    assert encode_text("Ж", DataCoding.UCS2) == (DataCoding.UCS2, b"\x04\x16")
    assert encode_text("ab", DataCoding.UCS2) == (DataCoding.UCS2, b"\x00a\x00b")
    assert encode_text("€", DataCoding.UCS2) == (DataCoding.UCS2, b"\x20\xac")
    with pytest.raises(TextEncodeError, match="U\\+0416"):
        encode_text("aЖ", DataCoding.GSM)
    with pytest.raises(TextEncodeError):
        encode_text("Ж", DataCoding.LATIN1)
    with pytest.raises(TextEncodeError):
        encode_text("x", DataCoding.BINARY)
    assert encode_text("aЖ", DataCoding.GSM, "replace") == (DataCoding.GSM, b"a?")
    assert encode_text("aЖ", DataCoding.LATIN1, "replace") == (DataCoding.LATIN1, b"a?")


# --- part counts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),  # 153 * 2
        ("a" * 307, 3),
        ("€" * 80, 1),  # 160 septets
        ("€" * 81, 2),  # 162 septets
        ("a" * 159 + "€", 2),  # 161 septets
        ("€" * 153, 3),  # 76 per part (152 septets), then 1
        ("Ж" * 70, 1),
        ("Ж" * 71, 2),
        ("Ж" * 134, 2),  # 67 * 2
        ("Ж" * 135, 3),
        ("😀" * 35, 1),  # 70 units
        ("😀" * 36, 2),  # each emoji is two UCS-2 units
        ("Ж" * 66 + "😀", 1),  # 68 units
        ("Ж" * 66 + "😀" * 2, 1),  # 70 units
        ("Ж" * 66 + "😀" * 2 + "Ж", 2),  # 71 units
    ],
)
def test_part_counts_as_handsets_count(text: str, parts: int) -> None:
    assert count_parts(text) == parts


def test_part_counts_for_udh16_latin1_and_payload() -> None:
    assert count_parts("a" * 304, L.UDH16) == 2  # 152 * 2
    assert count_parts("a" * 305, L.UDH16) == 3
    assert count_parts("Ж" * 132, L.UDH16) == 2  # 66 * 2
    assert count_parts("Ж" * 133, L.UDH16) == 3
    assert count_parts("é" * 140, coding=DataCoding.LATIN1) == 1
    assert count_parts("é" * 141, coding=DataCoding.LATIN1) == 2
    assert count_parts("é" * 268, coding=DataCoding.LATIN1) == 2  # 134 * 2
    assert count_parts("a" * 306, L.PAYLOAD) == 2  # what the SMSC will make of it
    assert part_limit(DataCoding.BINARY, L.UDH16) == 133


def test_escape_at_the_boundary_moves_to_the_next_part() -> None:
    text = "a" * 152 + "€" + "b" * 10  # the escape pair would straddle septets 153/154
    bodies = segment(text, L.UDH8).bodies
    assert [len(b) for b in bodies] == [152, 12]
    assert bodies[1].startswith(b"\x1b\x65")
    text = "a" * 151 + "€" + "b" * 10  # the pair ends exactly at 153: stays
    assert [len(b) for b in segment(text, L.UDH8).bodies] == [153, 10]


def test_surrogate_pair_at_the_boundary_moves_to_the_next_part() -> None:
    text = "Ж" * 66 + "😀" + "Ж" * 10  # the pair would take units 67 and 68
    bodies = segment(text, L.UDH8).bodies
    assert [len(b) // 2 for b in bodies] == [66, 12]
    assert bodies[1][:4].decode("utf-16-be") == "😀"


@given(st.text(alphabet=GSM_TEXT, max_size=700))
def test_gsm_parts_never_split_an_escape(text: str) -> None:
    for method in (L.UDH8, L.UDH16, L.SAR):
        segments = segment(text, method)
        assert segments.coding is DataCoding.GSM
        assert decode_gsm(b"".join(segments.bodies)) == text
        limit = 160 if segments.count == 1 else part_limit(DataCoding.GSM, method)
        for body in segments.bodies:
            assert len(body) <= limit
            assert encode_gsm(decode_gsm(body)) == body  # whole: no escape left dangling
        assert segments.count == count_parts(text, method)


@given(st.text(st.characters(exclude_categories=["Cs"]), max_size=400))
@settings(max_examples=200)
def test_ucs2_parts_never_split_a_surrogate_pair(text: str) -> None:
    for method in (L.UDH8, L.UDH16):
        segments = segment(text, method, DataCoding.UCS2)
        limit = 140 if segments.count == 1 else part_limit(DataCoding.UCS2, method)
        for body in segments.bodies:
            assert len(body) % 2 == 0
            assert len(body) <= limit
            body.decode("utf-16-be")  # raises on a split pair
        assert b"".join(segments.bodies).decode("utf-16-be") == text


def test_too_many_parts_is_refused() -> None:
    assert len(segment("a" * 153 * 255, L.UDH8).bodies) == 255
    with pytest.raises(TooManyParts):
        segment("a" * (153 * 255 + 1), L.UDH8)


# --- segmentation into PDUs --------------------------------------------------------------

TEMPLATE = p.SubmitSm(
    source_addr="ACME",
    destination_addr="447700900123",
    registered_delivery=1,
    tlvs=[(Tag.USER_MESSAGE_REFERENCE, b"\x00\x01")],
)


def test_single_part_has_no_concatenation() -> None:
    for method in L:
        (only,) = submits_for_text(TEMPLATE, "Hello €", method, reference=9)
        assert only.short_message == b"Hello \x1b\x65"
        assert only.esm_class == 0
        assert only.data_coding == 0
        assert only.tlvs == TEMPLATE.tlvs


def test_udh8() -> None:
    parts = submits(TEMPLATE, segment("x" * 200, L.UDH8), reference=0x11A)
    assert [s.short_message[:6] for s in parts] == [
        bytes((5, 0, 3, 0x1A, 2, 1)),
        bytes((5, 0, 3, 0x1A, 2, 2)),
    ]
    assert [len(s.short_message) for s in parts] == [6 + 153, 6 + 47]
    assert all(s.esm_class == 0x40 and s.registered_delivery == 1 for s in parts)
    assert all(s.destination_addr == "447700900123" for s in parts)
    assert all(decode(encode(s)) == s for s in parts)


def test_udh16() -> None:
    parts = submits(TEMPLATE, segment("x" * 200, L.UDH16), reference=0x1234)
    assert parts[0].short_message[:7] == bytes((6, 8, 4, 0x12, 0x34, 2, 1))
    assert parts[1].short_message[:7] == bytes((6, 8, 4, 0x12, 0x34, 2, 2))
    assert len(parts[0].short_message) == 7 + 152
    ucs2 = submits(TEMPLATE, segment("Ж" * 100, L.UDH16), reference=1)
    assert [len(s.short_message) for s in ucs2] == [7 + 132, 7 + 68]
    assert all(s.data_coding == 8 for s in ucs2)


def test_sar() -> None:
    parts = submits(TEMPLATE, segment("Ж" * 100, L.SAR), reference=0x0102)
    assert len(parts) == 2
    assert [len(s.short_message) for s in parts] == [134, 66]  # 67 units, no UDH
    for seq, part in enumerate(parts, start=1):
        assert part.esm_class == 0
        assert part.sar == p.Sar(0x0102, 2, seq)
        assert part.tlv(Tag.USER_MESSAGE_REFERENCE) == b"\x00\x01"  # the template's, kept
    assert parts[1].tlv(Tag.SAR_MSG_REF_NUM) == b"\x01\x02"
    assert TEMPLATE.tlvs == [(Tag.USER_MESSAGE_REFERENCE, b"\x00\x01")]  # not changed


def test_message_payload() -> None:
    (one,) = submits(TEMPLATE, segment("y" * 400, L.PAYLOAD), reference=1)
    assert one.short_message == b""
    assert one.message_payload == b"y" * 400
    assert one.esm_class == 0
    (short,) = submits(TEMPLATE, segment("y" * 100, L.PAYLOAD), reference=1)
    assert short.short_message == b"y" * 100
    assert short.message_payload is None
    (ucs2,) = submits(TEMPLATE, segment("Ж" * 71, L.PAYLOAD), reference=1)
    assert ucs2.message_payload == ("Ж" * 71).encode("utf-16-be")
    assert decode(encode(one)) == one


# --- inbound decoding --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("coding", "raw", "text"),
    [
        (0x00, encode_gsm("Hi €_@"), "Hi €_@"),
        (0x01, b"plain", "plain"),
        (0x02, encode_gsm("@home"), "@home"),
        (0x03, "café".encode("latin-1"), "café"),
        (0x05, "ｱｲｳ".encode("shift_jis"), "ｱｲｳ"),
        (0x05, b"abc\xb1", "abcｱ"),
        (0x06, "Привет".encode("iso8859-5"), "Привет"),
        (0x07, "שלום".encode("iso8859-8"), "שלום"),
        (0x08, "Привет 😀".encode("utf-16-be"), "Привет 😀"),
        (0x0A, "日本".encode("iso2022_jp"), "日本"),
        (0x0D, "丂日本".encode("euc_jp"), "丂日本"),  # 丂 is in JIS X 0212 only
        (0x0D, "丂".encode("iso2022_jp_2"), "丂"),  # the same written with escapes
        (0x0E, "한국".encode("euc_kr"), "한국"),
        (0x10, encode_gsm("class 0"), "class 0"),
        (0x11, encode_gsm("class 1"), "class 1"),
        (0x18, "Ж".encode("utf-16-be"), "Ж"),
        (0x1A, "Ж".encode("utf-16-be"), "Ж"),
        (0xF0, encode_gsm("flash"), "flash"),
        (0xF1, encode_gsm("flash"), "flash"),
        (0xF3, encode_gsm("sim"), "sim"),
        (0xC0, encode_gsm("voicemail"), "voicemail"),
        (0xE0, "Ж".encode("utf-16-be"), "Ж"),
        (0x40, encode_gsm("auto-delete"), "auto-delete"),
    ],
)
def test_inbound_decoding_for_every_listed_coding(coding: int, raw: bytes, text: str) -> None:
    decoded = decode_text(raw, coding)
    assert (decoded.text, decoded.decode_error, decoded.raw) == (text, None, raw)
    assert decoded.ok


@pytest.mark.parametrize(
    ("coding", "raw", "words"),
    [
        (0x08, b"\xd8\x00", "UCS-2"),  # a lone high surrogate
        (0x08, b"\x00a\x00", "UCS-2"),  # odd length
        (0x18, b"\xdc\x00", "UCS-2"),
        (0x00, b"\xff", "GSM"),
        (0xF1, b"\x80", "GSM"),
        (0x01, b"\xe9", "ascii"),
        (0x0E, b"\xff\xff", "euc_kr"),
        (0x04, b"\x01\x02", "binary"),
        (0xF4, b"\x01\x02", "binary"),
        (0x14, b"\x01\x02", "binary"),
        (0x2C, b"zz", "compressed"),
        (0x0C, b"zz", "unknown data_coding"),
        (0x80, b"zz", "unknown data_coding"),
        (0x1C, b"zz", "unknown data_coding"),  # general data coding, reserved alphabet
    ],
)
def test_undecodable_bodies_are_kept_and_flagged(coding: int, raw: bytes, words: str) -> None:
    decoded = decode_text(raw, coding)
    assert decoded.text is None
    assert decoded.raw == raw
    assert decoded.decode_error is not None
    assert words in decoded.decode_error


@given(st.binary(max_size=200), st.integers(0, 255))
@settings(max_examples=1000)
def test_decoding_never_raises(raw: bytes, coding: int) -> None:
    decoded = decode_text(raw, coding)
    assert decoded.raw == raw
    assert (decoded.text is None) == (decoded.decode_error is not None)
