"""The SMPP codec: byte layouts from the spec, round trips, the hot paths against the
generic layout reader, and bad bytes that only ever raise PduDecodeError."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.smpp import pdu as p
from bridge.smpp.codec import (
    MAX_PDU_LENGTH,
    Framer,
    PduDecodeError,
    PduEncodeError,
    decode,
    encode,
    encode_generic,
)
from bridge.smpp.constants import CommandId, CommandStatus, MessageState, Tag
from bridge.smpp.tlv import SPECS, Kind, NetworkErrorCode, TlvValue, read_tlv, tlv_bytes


def cstr(max_size: int) -> st.SearchStrategy[str]:
    return st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=max_size - 1)


u8 = st.integers(0, 255)
u32 = st.integers(0, 0xFFFFFFFF)
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
        st.builds(c, command_status=u32, sequence_number=u32, system_id=cstr(16), tlvs=tlvs)
        for c in (p.BindTransmitterResp, p.BindReceiverResp, p.BindTransceiverResp)
    ),
    *(
        st.builds(c, command_status=u32, sequence_number=u32, message_id=cstr(65), tlvs=tlvs)
        for c in (p.SubmitSmResp, p.DeliverSmResp, p.DataSmResp)
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
@settings(max_examples=600)
def test_every_pdu_type_round_trips(pdu: p.Pdu) -> None:
    raw = encode(pdu)
    assert decode(raw) == pdu
    assert raw == encode_generic(pdu)  # the hot paths write what the layout table says
    assert decode(raw, generic=True) == decode(raw)


@given(ANY_PDU, st.data())
@settings(max_examples=300)
def test_hot_paths_and_layout_reader_agree_on_mutated_bytes(
    pdu: p.Pdu, data: st.DataObject
) -> None:
    raw = bytearray(encode(pdu))
    if len(raw) > 16:
        position = data.draw(st.integers(16, len(raw) - 1))
        raw[position] = data.draw(u8)

    def outcome(generic: bool) -> object:
        try:
            return decode(bytes(raw), generic=generic)
        except PduDecodeError as error:
            return ("error", error.sequence_number, error.in_sync)

    assert outcome(True) == outcome(False)


def test_bind_transceiver_bytes_match_the_spec_layout() -> None:
    pdu = p.BindTransceiver(sequence_number=1, system_id="acme", password="pw", system_type="")
    body = b"acme\x00" + b"pw\x00" + b"\x00" + bytes([0x34, 0, 0]) + b"\x00"
    raw = encode(pdu)
    assert raw == struct.pack(">IIII", 16 + len(body), 0x09, 0, 1) + body
    assert raw.hex() == "0000001d" "00000009" "00000000" "00000001" "61636d6500" "707700" "00" "340000" "00"  # fmt: skip


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
        b"\x00"  # service_type
        + b"\x05\x00"  # source_addr_ton, source_addr_npi
        + b"ACME\x00"
        + b"\x01\x01"  # dest_addr_ton, dest_addr_npi
        + b"447700900123\x00"
        + b"\x00\x00\x00"  # esm_class, protocol_id, priority_flag
        + b"\x00"  # schedule_delivery_time
        + b"\x00"  # validity_period
        + b"\x01\x00\x00\x00"  # registered_delivery, replace_if_present, data_coding, default id
        + b"\x02Hi"  # sm_length, short_message
        + b"\x02\x04\x00\x02\x00\x2a"  # user_message_reference = 42
    )
    assert encode(pdu) == struct.pack(">IIII", 16 + len(body), 0x04, 0, 7) + body
    back = decode(encode(pdu))
    assert isinstance(back, p.SubmitSm)
    assert back.user_message_reference == 42


def test_known_responses_from_the_wire() -> None:
    resp = decode(bytes.fromhex("00000018 80000004 00000000 0000002a 3561303030303100"))
    assert resp == p.SubmitSmResp(sequence_number=42, message_id="5a00001")
    nack = decode(bytes.fromhex("00000010 80000000 00000003 00000009"))
    assert nack == p.GenericNack(command_status=CommandStatus.ESME_RINVCMDID, sequence_number=9)
    enquire = decode(bytes.fromhex("00000010 00000015 00000000 00000001"))
    assert enquire == p.EnquireLink(sequence_number=1)


def test_vendor_status_and_empty_error_body_are_kept() -> None:
    raw = struct.pack(">IIII", 16, 0x80000004, 0x0401, 9)
    resp = decode(raw)
    assert isinstance(resp, p.SubmitSmResp)
    assert (resp.command_status, resp.message_id) == (0x0401, "")
    assert encode(resp) == raw
    assert CommandStatus.describe(0x0401) == "vendor-specific (0x0401)"
    assert CommandStatus.describe(0x58) == "ESME_RTHROTTLED (0x58)"
    assert CommandStatus.describe(0x12345678) == "unknown status (0x12345678)"
    nack = decode(struct.pack(">IIII", 16, 0x80000000, 0x04FF, 3))
    assert (nack.command_status, nack.sequence_number) == (0x04FF, 3)


def test_an_error_response_with_an_unreadable_body_keeps_its_status() -> None:
    # Body without its NUL: for ESME_ROK that is an error; with an error status the body
    # means nothing (SMPP 3.4 4.4.2) and the status must reach the session.
    raw = struct.pack(">IIII", 19, 0x80000004, 0x45, 12) + b"abc"
    resp = decode(raw)
    assert resp == p.SubmitSmResp(command_status=0x45, sequence_number=12)
    ok = struct.pack(">IIII", 19, 0x80000004, 0, 12) + b"abc"
    with pytest.raises(PduDecodeError) as info:
        decode(ok)
    assert (info.value.sequence_number, info.value.in_sync, info.value.is_response) == (
        12,
        True,
        True,
    )


def test_submit_sm_resp_with_tlvs_is_kept() -> None:
    raw = encode(p.SubmitSmResp(sequence_number=3, message_id="ab", tlvs=[(0x1401, b"x")]))
    resp = decode(raw)
    assert isinstance(resp, p.SubmitSmResp)
    assert (resp.message_id, resp.tlvs) == ("ab", [(0x1401, b"x")])


def test_unknown_command_is_kept_for_a_generic_nack() -> None:
    raw = struct.pack(">IIII", 20, 0x00000103 + 0x1000, 0, 77) + b"abcd"
    pdu = decode(raw)
    assert isinstance(pdu, p.UnknownPdu)
    assert (pdu.sequence_number, pdu.body, pdu.is_response) == (77, b"abcd", False)
    assert encode(pdu) == raw
    # submit_multi, query_sm... are not ours: unknown too, answered with ESME_RINVCMDID.
    assert isinstance(decode(struct.pack(">IIII", 16, 0x21, 0, 1)), p.UnknownPdu)


def test_typed_tlv_access_and_unknown_tlvs_unchanged() -> None:
    pdu = p.DeliverSm(
        tlvs=[
            (Tag.RECEIPTED_MESSAGE_ID, b"a1f\x00"),
            (Tag.MESSAGE_STATE, b"\x02"),
            (Tag.NETWORK_ERROR_CODE, b"\x03\x00\x0b"),
            (0x1401, b"vendor"),
            (Tag.SAR_MSG_REF_NUM, b"\x12\x34"),
            (Tag.SAR_TOTAL_SEGMENTS, b"\x03"),
            (Tag.SAR_SEGMENT_SEQNUM, b"\x02"),
            (Tag.SOURCE_PORT, b"\x23\x28"),
            (Tag.DESTINATION_PORT, b"\x00\x50"),
            (Tag.MORE_MESSAGES_TO_SEND, b"\x01"),
            (Tag.MESSAGE_PAYLOAD, b"long text"),
            (Tag.USER_MESSAGE_REFERENCE, b"\x00\x07"),
        ]
    )
    raw = encode(pdu)
    back = decode(raw)
    assert isinstance(back, p.DeliverSm)
    assert encode(back) == raw  # order and unknown TLVs kept
    assert back.receipted_message_id == "a1f"
    assert back.message_state == MessageState.DELIVERED
    assert back.network_error_code == NetworkErrorCode(3, 11)
    assert str(back.network_error_code) == "3:11"
    assert back.sar == p.Sar(0x1234, 3, 2)
    assert (back.source_port, back.destination_port) == (9000, 80)
    assert back.more_messages_to_send == 1
    assert back.user_message_reference == 7
    assert back.message_payload == b"long text"
    assert back.payload == b"long text"  # short_message empty: message_payload is the body
    assert back.tlv(0x1401) == b"vendor"
    assert back.tlv_value(0x1401) == b"vendor"


def test_malformed_known_tlvs_read_as_none_not_errors() -> None:
    pdu = decode(
        encode(
            p.DeliverSm(
                tlvs=[
                    (Tag.MESSAGE_STATE, b"\x00\x02"),
                    (Tag.NETWORK_ERROR_CODE, b"\x03"),
                    (Tag.SAR_MSG_REF_NUM, b"\x01"),
                    (Tag.SAR_TOTAL_SEGMENTS, b"\x02"),
                    (Tag.SAR_SEGMENT_SEQNUM, b"\x01"),
                    (Tag.RECEIPTED_MESSAGE_ID, b"no-nul"),
                ]
            )
        )
    )
    assert isinstance(pdu, p.DeliverSm)
    assert pdu.message_state is None
    assert pdu.network_error_code is None
    assert pdu.sar is None  # a 1-octet reference is not a sar_msg_ref_num
    assert pdu.receipted_message_id == "no-nul"  # a missing NUL is forgiven


def test_set_tlv_is_typed_and_strict() -> None:
    pdu = p.SubmitSm()
    pdu.set_tlv(Tag.SAR_MSG_REF_NUM, 0xBEEF)
    pdu.set_tlv(Tag.RECEIPTED_MESSAGE_ID, "abc")
    pdu.set_tlv(Tag.NETWORK_ERROR_CODE, NetworkErrorCode(3, 0x0101))
    pdu.set_tlv(Tag.SAR_MSG_REF_NUM, 7)  # replaces, does not add
    assert pdu.tlvs == [
        (Tag.SAR_MSG_REF_NUM, b"\x00\x07"),
        (Tag.RECEIPTED_MESSAGE_ID, b"abc\x00"),
        (Tag.NETWORK_ERROR_CODE, b"\x03\x01\x01"),
    ]
    for tag, value in [
        (Tag.MESSAGE_STATE, 256),
        (Tag.SAR_MSG_REF_NUM, -1),
        (Tag.RECEIPTED_MESSAGE_ID, "x" * 65),
        (Tag.RECEIPTED_MESSAGE_ID, 5),
        (0x1401, "not bytes"),
        (0x10000, b""),
    ]:
        with pytest.raises(ValueError):  # noqa: PT011 - each case its own message
            pdu.set_tlv(tag, value)


def typed_value(tag: int) -> st.SearchStrategy[TlvValue]:
    spec = SPECS[tag]
    if spec.kind is Kind.INT:
        return st.integers(0, (1 << (8 * spec.size)) - 1)
    if spec.kind is Kind.CSTRING:
        return cstr(spec.size)
    if spec.kind is Kind.NETWORK_ERROR:
        return st.builds(NetworkErrorCode, u8, st.integers(0, 0xFFFF))
    if spec.kind is Kind.EMPTY:
        return st.just(b"")
    return st.binary(max_size=min(spec.size, 300))


@given(st.sampled_from(sorted(SPECS)).flatmap(lambda t: st.tuples(st.just(t), typed_value(t))))
@settings(max_examples=400)
def test_every_known_tlv_type_round_trips(tag_value: tuple[int, TlvValue]) -> None:
    tag, value = tag_value
    assert read_tlv(tag, tlv_bytes(tag, value)) == value


@given(st.integers(0, 0xFFFF), st.binary(max_size=80))
def test_reading_any_tlv_bytes_never_raises(tag: int, raw: bytes) -> None:
    read_tlv(tag, raw)


@pytest.mark.parametrize(
    ("raw", "in_sync", "words"),
    [
        (struct.pack(">IIII", 17, 4, 0, 3) + b"x", True, "service_type is not NUL-terminated"),
        (struct.pack(">IIII", 16, 0x80000015, 0, 3) + b"", True, None),
        (struct.pack(">IIII", 18, 0x80000015, 0, 3) + b"zz", True, "unexpected octets"),
        (struct.pack(">IIII", 12, 4, 0, 3), False, "command_length"),
        (struct.pack(">IIII", 16, 4, 0, 3), True, "service_type is not NUL-terminated"),
        (struct.pack(">IIII", 23, 4, 0, 3) + b"abcdef\x00", True, "within 6 octets"),
        (struct.pack(">IIII", 29, 9, 0, 3) + b"ab\x00123456789\x00", True, "password"),
        (struct.pack(">IIII", 19, 6, 0, 3) + b"\x00\x00\x00", True, "unexpected octets"),
        (struct.pack(">IIII", 28, 0x103, 0, 3) + bytes(10) + b"\x00\x01", True, "truncated TLV"),
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
    if in_sync:
        assert item.sequence_number == 3


def test_bad_fields_earn_their_status() -> None:
    good = encode(p.SubmitSm(sequence_number=5, source_addr="1" * 20))
    bad = good.replace(b"1" * 20 + b"\x00", b"1" * 21)  # no NUL within 21 octets
    bad = struct.pack(">I", len(bad)) + bad[4:]
    with pytest.raises(PduDecodeError) as info:
        decode(bad)
    assert info.value.status == CommandStatus.ESME_RINVSRCADR


def test_sm_length_larger_than_the_body() -> None:
    good = encode(p.SubmitSm(sequence_number=5, short_message=b"hello"))
    # Claim 200 octets of short_message while 5 follow.
    index = good.index(b"\x05hello")
    bad = good[:index] + b"\xc8" + good[index + 1 :]
    with pytest.raises(PduDecodeError, match="short_message runs past the end") as info:
        decode(bad)
    assert info.value.sequence_number == 5
    assert info.value.in_sync
    assert info.value.status == CommandStatus.ESME_RINVMSGLEN


def test_sm_length_smaller_than_the_body_leaves_garbage_that_is_refused() -> None:
    good = encode(p.SubmitSm(sequence_number=5, short_message=b"hello"))
    index = good.index(b"\x05hello")
    bad = good[:index] + b"\x02" + good[index + 1 :]  # "llo" left over: not a TLV
    with pytest.raises(PduDecodeError, match="TLV"):
        decode(bad)


def test_framer_handles_partial_reads_and_many_pdus() -> None:
    stream = b"".join(encode(p.EnquireLink(sequence_number=i)) for i in range(1, 50))
    framer = Framer()
    got: list[p.Pdu | PduDecodeError] = []
    for i in range(0, len(stream), 7):
        got += framer.feed(stream[i : i + 7])
    assert [x.sequence_number for x in got if isinstance(x, p.Pdu)] == list(range(1, 50))
    assert framer.buffered == 0


@given(st.lists(ANY_PDU, min_size=1, max_size=8), st.data())
@settings(max_examples=200)
def test_framer_gives_the_same_pdus_whatever_the_read_sizes(
    pdus: list[p.Pdu], data: st.DataObject
) -> None:
    stream = b"".join(encode(x) for x in pdus)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    framer = Framer()
    got: list[p.Pdu | PduDecodeError] = []
    for start, stop in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += framer.feed(stream[start:stop])
    assert got == pdus


def test_framer_keeps_going_after_a_bad_pdu_in_sync() -> None:
    bad = struct.pack(">IIII", 18, 0x15, 0, 2) + b"zz"  # enquire_link with a body
    stream = encode(p.EnquireLink(sequence_number=1)) + bad + encode(p.Unbind(sequence_number=3))
    items = Framer().feed(stream)
    assert isinstance(items[0], p.EnquireLink)
    assert isinstance(items[1], PduDecodeError)
    assert (items[1].sequence_number, items[1].in_sync) == (2, True)
    assert items[2] == p.Unbind(sequence_number=3)


def test_framer_stops_on_an_insane_length() -> None:
    framer = Framer()
    huge = struct.pack(">IIII", MAX_PDU_LENGTH + 1, 4, 0, 8)
    items = framer.feed(encode(p.EnquireLink(sequence_number=1)) + huge)
    assert isinstance(items[0], p.EnquireLink)
    assert isinstance(items[1], PduDecodeError)
    assert (items[1].in_sync, items[1].sequence_number) == (False, 8)
    assert framer.broken
    assert framer.feed(encode(p.EnquireLink())) == []
    # The length alone is enough to know, before the rest of the header arrives.
    (early,) = Framer().feed(b"\x00\x00\x00\x05")
    assert isinstance(early, PduDecodeError)
    assert early.sequence_number is None


def test_framer_accepts_the_largest_pdu_and_waits_for_it() -> None:
    payload = b"x" * (MAX_PDU_LENGTH - 200)
    raw = encode(p.DataSm(sequence_number=4, tlvs=[(Tag.MESSAGE_PAYLOAD, payload)]))
    framer = Framer()
    for i in range(0, len(raw) - 1, 1000):
        assert framer.feed(raw[i : min(i + 1000, len(raw) - 1)]) == []
    (pdu,) = framer.feed(raw[-1:])
    assert isinstance(pdu, p.DataSm)
    assert pdu.payload == payload


@given(st.binary(max_size=300))
@settings(max_examples=500)
def test_random_bytes_only_raise_decode_errors(data: bytes) -> None:
    framer = Framer()
    for item in framer.feed(data):
        assert isinstance(item, p.Pdu | PduDecodeError)
    with contextlib.suppress(PduDecodeError):
        decode(data)


@given(st.sampled_from(list(CommandId)), u32, st.binary(max_size=120))
@settings(max_examples=800)
def test_random_bodies_under_every_command_only_raise_decode_errors(
    command_id: int, seq: int, body: bytes
) -> None:
    raw = struct.pack(">IIII", 16 + len(body), command_id, 0, seq) + body
    for generic in (False, True):
        result: p.Pdu | PduDecodeError
        try:
            result = decode(raw, generic=generic)
        except PduDecodeError as error:
            result = error
        if isinstance(result, PduDecodeError):
            assert result.in_sync
            assert result.sequence_number == seq
        else:
            # Whatever decodes is writable and reads back the same (the bytes may differ
            # where decoding is lenient: an error response's unreadable body is dropped).
            assert decode(encode(result)) == result


@given(ANY_PDU, st.data())
@settings(max_examples=400)
def test_mutated_pdus_only_raise_decode_errors(pdu: p.Pdu, data: st.DataObject) -> None:
    raw = bytearray(encode(pdu))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] = data.draw(u8)
    cut = data.draw(st.integers(0, len(raw)))
    for chunk in (bytes(raw), bytes(raw[:cut]), bytes(raw) + bytes(raw[:cut])):
        with contextlib.suppress(PduDecodeError):
            decode(chunk)
        framer = Framer()
        for start in range(0, len(chunk), 5):
            for item in framer.feed(chunk[start : start + 5]):
                assert isinstance(item, p.Pdu | PduDecodeError)


def test_encoding_refuses_fields_that_do_not_fit() -> None:
    cases: list[tuple[p.Pdu, str]] = [
        (p.SubmitSm(source_addr="1" * 21), "source_addr is longer than 20"),
        (p.SubmitSm(short_message=b"x" * 255), "short_message is longer than 254"),
        (p.SubmitSm(destination_addr="12\x0034"), "destination_addr contains a NUL"),
        (p.SubmitSm(destination_addr="Ж"), "destination_addr has characters outside Latin-1"),
        (p.SubmitSm(esm_class=256), "esm_class 256 is not an octet"),
        (p.SubmitSm(data_coding=-1), "data_coding -1 is not an octet"),
        (p.SubmitSm(sequence_number=1 << 32), "sequence_number"),
        (p.SubmitSm(tlvs=[(Tag.MESSAGE_PAYLOAD, b"x" * 0x10000)]), "at most 65535"),
        (p.BindTransceiver(password="123456789"), "password is longer than 8"),
        (p.SubmitSmResp(message_id="x" * 65), "message_id is longer than 64"),
        (p.DataSm(source_addr="1" * 65), "source_addr is longer than 64"),
        (p.EnquireLink(command_status=-1), "command_status"),
    ]
    for pdu, words in cases:
        with pytest.raises(PduEncodeError, match=words):
            encode(pdu)
