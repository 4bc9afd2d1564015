"""MOs out of deliver_sm / data_sm: addresses, text, concatenation data, reassembly."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.config.settings import LongMessageMethod as L
from bridge.smpp import pdu as p
from bridge.smpp.constants import Tag
from bridge.smpp.inbound import Concatenation, InboundMessage, join_parts, parse_mo
from bridge.smpp.receipts import Receipt, parse_inbound
from bridge.smpp.segmentation import submits_for_text
from bridge.smpp.text import encode_gsm


def test_plain_mo() -> None:
    mo = parse_mo(
        p.DeliverSm(
            source_addr="447700900123",
            source_addr_ton=1,
            source_addr_npi=1,
            destination_addr="60006",
            dest_addr_ton=3,
            dest_addr_npi=0,
            short_message=encode_gsm("Hello €"),
        )
    )
    assert (mo.sender, mo.sender_ton, mo.sender_npi) == ("447700900123", 1, 1)
    assert (mo.recipient, mo.recipient_ton, mo.recipient_npi) == ("60006", 3, 0)
    assert mo.text.text == "Hello €"
    assert mo.concatenation is None
    assert mo.problem is None


def test_mo_with_8_and_16_bit_udh_and_sar() -> None:
    udh8 = p.DeliverSm(
        esm_class=0x40,
        source_addr="447700900123",
        destination_addr="60006",
        short_message=bytes((5, 0, 3, 0x2A, 3, 2)) + encode_gsm("part two"),
    )
    mo = parse_mo(udh8)
    assert mo.concatenation == Concatenation(0x2A, 3, 2, 8, "udh")
    assert mo.text.text == "part two"
    assert mo.udh == ((0x00, bytes((0x2A, 3, 2))),)

    udh16 = p.DeliverSm(
        esm_class=0x40,
        data_coding=8,
        short_message=bytes((6, 8, 4, 0xBE, 0xEF, 3, 3)) + "Ж😀".encode("utf-16-be"),
    )
    mo = parse_mo(udh16)
    assert mo.concatenation == Concatenation(0xBEEF, 3, 3, 16, "udh")
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
    assert mo.concatenation == Concatenation(7, 2, 1, 16, "sar")
    assert mo.text.text == "hi"


def test_other_udh_elements_are_kept_and_ports_read() -> None:
    # 16-bit application ports (IEI 0x05), then an unknown element, then concatenation.
    udh = bytes((0x05, 4, 0x0B, 0x84, 0x23, 0xF0, 0x70, 1, 0xAA, 0x00, 3, 9, 2, 1))
    mo = parse_mo(
        p.DeliverSm(esm_class=0x40, data_coding=4, short_message=bytes((len(udh),)) + udh + b"\x01")
    )
    assert mo.concatenation == Concatenation(9, 2, 1, 8)
    assert (mo.destination_port, mo.source_port) == (2948, 9200)
    assert [iei for iei, _ in mo.udh] == [0x05, 0x70, 0x00]
    assert mo.text.raw == b"\x01"
    assert mo.text.decode_error == "8-bit binary data"
    # Port TLVs win over the UDH.
    mo = parse_mo(p.DeliverSm(short_message=b"x", tlvs=[(Tag.DESTINATION_PORT, b"\x00\x50")]))
    assert mo.destination_port == 80


def test_udh_on_a_data_sm_payload() -> None:
    pdu = p.DataSm(
        esm_class=0x40,
        source_addr="447700900123",
        source_addr_ton=1,
        tlvs=[(Tag.MESSAGE_PAYLOAD, bytes((5, 0, 3, 1, 2, 2)) + b"abc")],
    )
    mo = parse_mo(pdu)
    assert mo.concatenation == Concatenation(1, 2, 2, 8)
    assert (mo.text.text, mo.sender_ton) == ("abc", 1)


def test_a_lying_udh_is_flagged_not_raised() -> None:
    mo = parse_mo(p.DeliverSm(esm_class=0x40, short_message=bytes((40, 0, 3))))
    assert mo.problem == "UDH length 40 runs past the body"
    assert mo.text.raw == bytes((40, 0, 3))
    assert mo.concatenation is None

    mo = parse_mo(p.DeliverSm(esm_class=0x40, short_message=bytes((3, 0, 5, 1)) + b"hi"))
    assert mo.problem == "UDH element 0x00 runs past the UDH"
    assert (mo.text.text, mo.concatenation) == ("hi", None)

    mo = parse_mo(p.DeliverSm(esm_class=0x40, short_message=b""))
    assert mo.problem == "UDHI set on an empty body"

    mo = parse_mo(p.DeliverSm(esm_class=0x40, short_message=bytes((1, 0)) + b"hi"))
    assert mo.problem == "a UDH element header runs past the UDH"


def test_impossible_concatenation_is_dropped_and_flagged() -> None:
    for total, seq in ((3, 0), (2, 3), (0, 0)):
        mo = parse_mo(
            p.DeliverSm(esm_class=0x40, short_message=bytes((5, 0, 3, 1, total, seq)) + b"x")
        )
        assert mo.concatenation is None
        assert mo.problem is not None
        assert mo.text.text == "x"


def test_sar_is_the_fallback_when_the_udh_has_no_concatenation() -> None:
    mo = parse_mo(
        p.DeliverSm(
            esm_class=0x40,
            short_message=bytes((4, 0x04, 2, 1, 2)) + b"x",
            tlvs=[
                (Tag.SAR_MSG_REF_NUM, b"\x00\x07"),
                (Tag.SAR_TOTAL_SEGMENTS, b"\x02"),
                (Tag.SAR_SEGMENT_SEQNUM, b"\x02"),
            ],
        )
    )
    assert mo.concatenation == Concatenation(7, 2, 2, 16, "sar")
    assert (mo.destination_port, mo.source_port) == (1, 2)


@given(st.binary(max_size=200), st.integers(0, 255), st.integers(0, 255))
@settings(max_examples=600)
def test_mo_parsing_never_raises(body: bytes, esm: int, coding: int) -> None:
    mo = parse_mo(p.DeliverSm(esm_class=esm | 0x40, data_coding=coding, short_message=body))
    assert isinstance(mo, InboundMessage)
    parse_inbound(p.DeliverSm(esm_class=esm, data_coding=coding, short_message=body))


def test_parse_inbound_tells_receipts_from_mos() -> None:
    assert isinstance(parse_inbound(p.DeliverSm(esm_class=0x04, short_message=b"id:1")), Receipt)
    assert isinstance(parse_inbound(p.DeliverSm(short_message=b"hello")), InboundMessage)


def _as_received(parts: list[p.SubmitSm]) -> list[InboundMessage]:
    """Our own MT parts, seen as MO parts: the same body layouts."""
    return [
        parse_mo(
            p.DeliverSm(
                esm_class=s.esm_class,
                data_coding=s.data_coding,
                short_message=s.short_message,
                tlvs=s.tlvs,
            )
        )
        for s in parts
    ]


@given(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=500),
    st.sampled_from([L.UDH8, L.UDH16, L.SAR]),
    st.randoms(use_true_random=False),
)
@settings(max_examples=150)
def test_parts_join_back_into_the_text_in_any_order(
    text: str, method: L, rnd: random.Random
) -> None:
    parts = _as_received(submits_for_text(p.SubmitSm(), text, method, reference=0x4242))
    assert all(
        m.concatenation is not None or len(parts) == 1 for m in parts
    )  # several parts: each knows its place
    shuffled = list(parts)
    rnd.shuffle(shuffled)
    joined = join_parts(shuffled)
    assert joined.text == text


def test_join_parts_mends_a_pair_a_sender_cut() -> None:
    emoji = "😀".encode("utf-16-be")
    first = parse_mo(
        p.DeliverSm(
            esm_class=0x40, data_coding=8, short_message=bytes((5, 0, 3, 1, 2, 1)) + emoji[:2]
        )
    )
    second = parse_mo(
        p.DeliverSm(
            esm_class=0x40, data_coding=8, short_message=bytes((5, 0, 3, 1, 2, 2)) + emoji[2:]
        )
    )
    assert first.text.text is None  # alone, half a pair is not text...
    assert join_parts([second, first]).text == "😀"  # ...together it is
    gsm_first = parse_mo(
        p.DeliverSm(esm_class=0x40, short_message=bytes((5, 0, 3, 1, 2, 1)) + b"a\x1b")
    )
    gsm_second = parse_mo(
        p.DeliverSm(esm_class=0x40, short_message=bytes((5, 0, 3, 1, 2, 2)) + b"\x65b")
    )
    assert join_parts([gsm_first, gsm_second]).text == "a€b"


def test_join_parts_with_mixed_codings_and_failures() -> None:
    gsm = parse_mo(p.DeliverSm(esm_class=0x40, short_message=bytes((5, 0, 3, 1, 2, 1)) + b"ab"))
    ucs2 = parse_mo(
        p.DeliverSm(
            esm_class=0x40,
            data_coding=8,
            short_message=bytes((5, 0, 3, 1, 2, 2)) + "Ж".encode("utf-16-be"),
        )
    )
    assert join_parts([ucs2, gsm]).text == "abЖ"
    broken = parse_mo(
        p.DeliverSm(
            esm_class=0x40, data_coding=8, short_message=bytes((5, 0, 3, 1, 2, 2)) + b"\xd8"
        )
    )
    flagged = join_parts([gsm, broken])
    assert flagged.text is None
    assert flagged.decode_error
    assert join_parts([]).text == ""
