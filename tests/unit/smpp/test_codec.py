"""The SMPP codec: byte layouts from the spec, round trips, and bad bytes that only ever
raise PduDecodeError."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.smpp import pdu as p
from bridge.smpp.codec import Framer, PduDecodeError, decode, encode
from bridge.smpp.constants import CommandStatus, Tag


def cstr(max_size: int) -> st.SearchStrategy[str]:
    return st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=max_size - 1)


u8 = st.integers(0, 255)
u32 = st.integers(0, 0x7FFFFFFF)
tlvs = st.lists(st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=40)), max_size=4)


def short_message(cls: type[p.SubmitSm] | type[p.DeliverSm]) -> st.SearchStrategy[p.Pdu]:
    return st.builds(
        cls,
        command_status=u32,
        sequence_number=u32,
        service_type=cstr(6),
        source_addr_ton=u8,
        source_addr_npi=u8,
        source_addr=cstr(21),
        dest_addr_ton=u8,
        dest_addr_npi=u8,
        destination_addr=cstr(21),
        esm_class=u8,
        protocol_id=u8,
        priority_flag=u8,
        schedule_delivery_time=cstr(17),
        validity_period=cstr(17),
        registered_delivery=u8,
        replace_if_present_flag=u8,
        data_coding=u8,
        sm_default_msg_id=u8,
        short_message=st.binary(max_size=254),
        tlvs=tlvs,
    )


def bind(cls: type[p._Bind]) -> st.SearchStrategy[p.Pdu]:
    return st.builds(
        cls,
        command_status=u32,
        sequence_number=u32,
        system_id=cstr(16),
        password=cstr(9),
        system_type=cstr(13),
        interface_version=u8,
        addr_ton=u8,
        addr_npi=u8,
        address_range=cstr(41),
    )


def header_only(cls: type[p.Pdu]) -> st.SearchStrategy[p.Pdu]:
    return st.builds(cls, command_status=u32, sequence_number=u32)


ANY_PDU = st.one_of(
    short_message(p.SubmitSm),
    short_message(p.DeliverSm),
    bind(p.BindTransmitter),
    bind(p.BindReceiver),
    bind(p.BindTransceiver),
    *(
        st.builds(c, command_status=st.just(0), sequence_number=u32, system_id=cstr(16), tlvs=tlvs)
        for c in (p.BindTransmitterResp, p.BindReceiverResp, p.BindTransceiverResp)
    ),
    st.builds(p.SubmitSmResp, command_status=st.just(0), sequence_number=u32, message_id=cstr(65)),
    st.builds(p.DeliverSmResp, command_status=u32, sequence_number=u32, message_id=cstr(65)),
    st.builds(
        p.DataSmResp, command_status=st.just(0), sequence_number=u32, message_id=cstr(65), tlvs=tlvs
    ),
    st.builds(
        p.DataSm,
        command_status=u32,
        sequence_number=u32,
        service_type=cstr(6),
        source_addr_ton=u8,
        source_addr_npi=u8,
        source_addr=cstr(65),
        dest_addr_ton=u8,
        dest_addr_npi=u8,
        destination_addr=cstr(65),
        esm_class=u8,
        registered_delivery=u8,
        data_coding=u8,
        tlvs=tlvs,
    ),
    st.builds(
        p.Outbind, command_status=u32, sequence_number=u32, system_id=cstr(16), password=cstr(9)
    ),
    *(
        header_only(c)
        for c in (p.EnquireLink, p.EnquireLinkResp, p.Unbind, p.UnbindResp, p.GenericNack)
    ),
)


@given(ANY_PDU)
@settings(max_examples=400)
def test_every_pdu_type_round_trips(pdu: p.Pdu) -> None:
    assert decode(encode(pdu)) == pdu


def test_bind_transceiver_bytes_match_the_spec_layout() -> None:
    pdu = p.BindTransceiver(sequence_number=1, system_id="acme", password="pw", system_type="")
    body = b"acme\x00" + b"pw\x00" + b"\x00" + bytes([0x34, 0, 0]) + b"\x00"
    assert encode(pdu) == struct.pack(">IIII", 16 + len(body), 0x09, 0, 1) + body


def test_submit_sm_bytes_match_the_spec_layout() -> None:
    pdu = p.SubmitSm(
        sequence_number=7,
        source_addr="ACME",
        source_addr_ton=5,
        destination_addr="447700900123",
        dest_addr_ton=1,
        dest_addr_npi=1,
        registered_delivery=1,
        short_message=b"Hi",
        tlvs=[(Tag.USER_MESSAGE_REFERENCE, b"\x00\x2a")],
    )
    body = (
        b"\x00"
        + b"\x05\x00"
        + b"ACME\x00"
        + b"\x01\x01"
        + b"447700900123\x00"
        + b"\x00\x00\x00"
        + b"\x00"
        + b"\x00"
        + b"\x01\x00\x00\x00"
        + b"\x02Hi"
        + b"\x02\x04\x00\x02\x00\x2a"
    )
    assert encode(pdu) == struct.pack(">IIII", 16 + len(body), 0x04, 0, 7) + body


def test_vendor_status_and_empty_error_body_are_kept() -> None:
    raw = struct.pack(">IIII", 16, 0x80000004, 0x0401, 9)
    resp = decode(raw)
    assert isinstance(resp, p.SubmitSmResp)
    assert (resp.command_status, resp.message_id) == (0x0401, "")
    assert CommandStatus.describe(0x0401) == "vendor-specific (0x0401)"
    assert CommandStatus.describe(0x58) == "ESME_RTHROTTLED (0x58)"


def test_unknown_command_is_kept_for_a_generic_nack() -> None:
    raw = struct.pack(">IIII", 20, 0x00000103 + 0x1000, 0, 77) + b"abcd"
    pdu = decode(raw)
    assert isinstance(pdu, p.UnknownPdu)
    assert (pdu.sequence_number, pdu.body, pdu.is_response) == (77, b"abcd", False)


def test_typed_tlv_access() -> None:
    pdu = p.DeliverSm(
        tlvs=[
            (Tag.RECEIPTED_MESSAGE_ID, b"a1f\x00"),
            (Tag.MESSAGE_STATE, b"\x02"),
            (0x1401, b"vendor"),
        ]
    )
    back = decode(encode(pdu))
    assert isinstance(back, p.DeliverSm)
    assert back.tlv_cstring(Tag.RECEIPTED_MESSAGE_ID) == "a1f"
    assert back.tlv_int(Tag.MESSAGE_STATE) == 2
    assert back.tlv(0x1401) == b"vendor"


@pytest.mark.parametrize(
    ("raw", "in_sync", "words"),
    [
        (struct.pack(">IIII", 17, 4, 0, 3) + b"x", True, "service_type is not NUL-terminated"),
        (struct.pack(">IIII", 16, 0x80000015, 0, 3) + b"", True, None),
        (struct.pack(">IIII", 18, 0x80000015, 0, 3) + b"zz", True, "unexpected octets"),
        (struct.pack(">IIII", 12, 4, 0, 3), False, "command_length"),
    ],
)
def test_malformed_pdus(raw: bytes, in_sync: bool, words: str | None) -> None:
    framer = Framer()
    (item,) = framer.feed(raw)
    if words is None:
        assert isinstance(item, p.EnquireLinkResp)
        return
    assert isinstance(item, PduDecodeError)
    assert item.in_sync is in_sync
    assert words in str(item)


def test_sm_length_larger_than_the_body() -> None:
    good = encode(p.SubmitSm(sequence_number=5, short_message=b"hello"))
    # Claim 200 octets of short_message while 5 follow.
    index = good.index(b"\x05hello")
    bad = good[:index] + b"\xc8" + good[index + 1 :]
    with pytest.raises(PduDecodeError, match="short_message runs past the end") as info:
        decode(bad)
    assert info.value.sequence_number == 5
    assert info.value.in_sync


def test_framer_handles_partial_reads_and_many_pdus() -> None:
    stream = b"".join(encode(p.EnquireLink(sequence_number=i)) for i in range(1, 50))
    framer = Framer()
    got: list[p.Pdu | PduDecodeError] = []
    for i in range(0, len(stream), 7):
        got += framer.feed(stream[i : i + 7])
    assert [x.sequence_number for x in got if isinstance(x, p.Pdu)] == list(range(1, 50))


@given(st.binary(max_size=300))
@settings(max_examples=500)
def test_random_bytes_only_raise_decode_errors(data: bytes) -> None:
    framer = Framer()
    for item in framer.feed(data):
        assert isinstance(item, (p.Pdu, PduDecodeError))
    with contextlib.suppress(PduDecodeError):
        decode(data)


@given(ANY_PDU, st.data())
@settings(max_examples=400)
def test_mutated_pdus_only_raise_decode_errors(pdu: p.Pdu, data: st.DataObject) -> None:
    raw = bytearray(encode(pdu))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] = data.draw(u8)
    cut = data.draw(st.integers(0, len(raw)))
    for chunk in (bytes(raw), bytes(raw[:cut])):
        with contextlib.suppress(PduDecodeError):
            decode(chunk)
        for item in Framer().feed(chunk):
            assert isinstance(item, (p.Pdu, PduDecodeError))


def test_encoding_refuses_fields_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="source_addr is longer than 20"):
        encode(p.SubmitSm(source_addr="1" * 21))
    with pytest.raises(ValueError, match="short_message is longer than 254"):
        encode(p.SubmitSm(short_message=b"x" * 255))
