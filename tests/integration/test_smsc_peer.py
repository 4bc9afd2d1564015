"""The node-smpp SMSC peer does what later tests rely on: proved with hand-packed PDUs.

Nothing here imports bridge.smpp: the bytes come from tests/support/raw_smpp.py, written
from the SMPP 3.4 spec, so these tests check the peer, not our codec.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support import raw_smpp as r
from tests.support.smsc_peer import NodeSmsc, NodeSmscFactory

pytestmark = pytest.mark.node

THROTTLED, MSGQFUL, BINDFAIL, INVPASWD, INVSYSID, INVBNDSTS = 0x58, 0x14, 0x0D, 0x0E, 0x0F, 0x04
RX_T_APPN, RX_P_APPN, INVCMDID = 0x64, 0x65, 0x03


@pytest.fixture
async def clients() -> AsyncIterator[list[r.RawSmpp]]:
    """Raw connections a test opened (append them): closed after the test."""
    opened: list[r.RawSmpp] = []
    yield opened
    for client in opened:
        await client.close()


async def bound(
    peer: NodeSmsc,
    clients: list[r.RawSmpp],
    kind: int = r.BIND_TRANSCEIVER,
    system_id: str = "acme",
    tls: ssl.SSLContext | None = None,
) -> r.RawSmpp:
    client = await r.RawSmpp.connect(peer.port, tls=tls, server_hostname="localhost")
    clients.append(client)
    resp = await client.bind(kind, system_id)
    assert (resp.command_id, resp.status) == (kind | r.RESP, 0)
    return client


def submit_pdu(seq: int, text: bytes, **fields: Any) -> bytes:
    return r.pack(r.SUBMIT_SM, seq, r.submit_sm_body("ACME", "447700900123", text, **fields))


# -- binds -------------------------------------------------------------------------------


async def test_binds_of_each_kind_enquire_link_and_unbind(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp]
) -> None:
    peer = await node_smsc()
    for kind in (r.BIND_TRANSMITTER, r.BIND_RECEIVER, r.BIND_TRANSCEIVER):
        client = await r.RawSmpp.connect(peer.port)
        clients.append(client)
        resp = await client.bind(kind, f"sys{kind}")
        assert (resp.command_id, resp.status, resp.cstring()) == (kind | r.RESP, 0, "nodesmsc")
        link = await client.request(r.ENQUIRE_LINK)
        assert (link.command_id, link.status, link.body) == (r.ENQUIRE_LINK | r.RESP, 0, b"")
    again = await clients[-1].bind(r.BIND_TRANSCEIVER)
    assert again.status == 0x05  # ESME_RALYBND
    unbind = await clients[-1].request(r.UNBIND)
    assert (unbind.command_id, unbind.status) == (r.UNBIND | r.RESP, 0)
    assert await clients[-1].closed_by_peer()

    state = await peer.wait_for(lambda s: len(s["disconnects"]) == 1)
    assert [(b["command"], b["system_id"], b["status"]) for b in state["binds"]] == [
        ("bind_transmitter", "sys2", 0),
        ("bind_receiver", "sys1", 0),
        ("bind_transceiver", "sys9", 0),
        ("bind_transceiver", "acme", 0x05),
    ]
    assert state["enquire_links"] == 3
    assert state["unbinds"] == [{"session": 2, "by": "client"}]
    assert state["disconnects"] == [{"session": 2, "reason": "unbind"}]
    sessions = await peer.sessions()
    assert [(s["bind"], s["bound"]) for s in sessions] == [
        ("transmitter", True),
        ("receiver", True),
        ("transceiver", False),
    ]


@pytest.mark.parametrize("status", [BINDFAIL, INVPASWD])
async def test_rejected_binds_then_accepted_after_reconfiguring(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp], status: int
) -> None:
    peer = await node_smsc(bind_status=status)
    client = await r.RawSmpp.connect(peer.port)
    clients.append(client)
    resp = await client.bind()
    # An error bind_resp is the bare header (no system_id), then the SMSC closes.
    assert (resp.command_id, resp.status, resp.length) == (r.BIND_TRANSCEIVER | r.RESP, status, 16)
    assert await client.closed_by_peer()
    await peer.configure(bind_status=0)
    await bound(peer, clients)
    state = await peer.received()
    assert [b["status"] for b in state["binds"]] == [status, 0]
    assert state["disconnects"] == [{"session": 0, "reason": "bind_rejected"}]


async def test_credentials_are_checked_and_bind_rules_count_down(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp]
) -> None:
    peer = await node_smsc(
        system_id="acme", password="pw", bind_rules=[{"status": BINDFAIL, "count": 1}]
    )
    statuses = []
    for system_id, password in [("acme", "pw"), ("acme", "nope"), ("other", "pw"), ("acme", "pw")]:
        client = await r.RawSmpp.connect(peer.port)
        clients.append(client)
        statuses.append((await client.bind(r.BIND_TRANSCEIVER, system_id, password)).status)
    assert statuses == [BINDFAIL, INVPASWD, INVSYSID, 0]


async def test_submit_needs_a_transmitting_bind(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp]
) -> None:
    peer = await node_smsc()
    unbound = await r.RawSmpp.connect(peer.port)
    clients.append(unbound)
    assert (await unbound.submit()).status == INVBNDSTS
    receiver = await bound(peer, clients, r.BIND_RECEIVER)
    assert (await receiver.submit()).status == INVBNDSTS
    assert await peer.submits() == []


# -- submit_sm answers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("id_format", "pattern"),
    [
        ("hex", r"[0-9a-f]{8}"),
        ("HEX", r"[0-9A-F]{8}"),
        ("dec", r"[1-9][0-9]{8}"),
        ("hex0", r"00[0-9a-f]{8}"),
        ("HEX0", r"00[0-9A-F]{8}"),
        ("dec0", r"0[1-9][0-9]{8}"),
    ],
)
async def test_message_id_forms_unique_across_sessions(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp], id_format: str, pattern: str
) -> None:
    peer = await node_smsc(id_format=id_format, id_start=0x3A2B1CFE)
    one, two = await bound(peer, clients), await bound(peer, clients)
    ids = [(await client.submit(b"x")).cstring() for client in (one, two, one, two)]
    assert all(re.fullmatch(pattern, i) for i in ids), ids
    assert any(re.search("[a-fA-F]", i) for i in ids) or id_format.startswith("dec")
    assert len(set(ids)) == 4
    numbers = [int(i, 10 if id_format.startswith("dec") else 16) for i in ids]
    assert numbers == list(range(0x3A2B1CFE, 0x3A2B1CFE + 4))
    assert [s["message_id"] for s in await peer.submits()] == ids


async def test_submits_are_recorded_field_by_field(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp]
) -> None:
    peer = await node_smsc()
    client = await bound(peer, clients, system_id="acme")
    udh = bytes((5, 0, 3, 0x2A, 2, 1))
    ucs2 = "Привет 😀".encode("utf-16-be")
    tlvs = (
        r.tlv(r.TAG_USER_MESSAGE_REFERENCE, b"\x01\x02")
        + r.tlv(r.TAG_SAR_MSG_REF_NUM, b"\x00\x07")
        + r.tlv(0x1400, b"\xde\xad")  # vendor tag node-smpp does not know
    )
    resp = await client.submit(
        udh + ucs2, "33612345678", esm_class=0x40, registered_delivery=1, data_coding=8, tlvs=tlvs
    )
    assert resp.status == 0
    (record,) = await peer.submits()
    assert record == {
        "session": 0,
        "system_id": "acme",
        "seq": 2,
        "service_type": "",
        "source_addr_ton": 5,
        "source_addr_npi": 0,
        "source_addr": "ACME",
        "dest_addr_ton": 1,
        "dest_addr_npi": 1,
        "destination_addr": "33612345678",
        "esm_class": 0x40,
        "protocol_id": 0,
        "priority_flag": 0,
        "registered_delivery": 1,
        "data_coding": 8,
        "short_message": (udh + ucs2).hex(),
        "tlvs": {"user_message_reference": 0x0102, "sar_msg_ref_num": 7, "0x1400": "dead"},
        "message_id": resp.cstring(),
        "status": 0,
        "answered": True,
        "t": record["t"],
    }
    assert abs(record["t"] / 1000 - time.time()) < 30


async def test_throttling_next_n_every_nth_and_all(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp]
) -> None:
    peer = await node_smsc(
        submit_rules=[{"status": THROTTLED, "count": 2}, {"status": MSGQFUL, "count": 1}]
    )
    client = await bound(peer, clients)
    answers = [await client.submit() for _ in range(5)]
    assert [a.status for a in answers] == [THROTTLED, THROTTLED, MSGQFUL, 0, 0]
    # An error submit_sm_resp carries no body (no message_id), as SMPP 3.4 allows.
    assert [a.length for a in answers[:3]] == [16, 16, 16]
    assert all(a.command_id == r.SUBMIT_SM | r.RESP for a in answers)

    await peer.reset()
    await peer.configure(every_nth={"n": 3, "status": THROTTLED})
    assert [(await client.submit()).status for _ in range(7)] == [
        0,
        0,
        THROTTLED,
        0,
        0,
        THROTTLED,
        0,
    ]

    await peer.configure(every_nth=None, default_status=THROTTLED)
    assert {(await client.submit()).status for _ in range(5)} == {THROTTLED}
    submits = await peer.submits()
    assert [s["status"] for s in submits[-5:]] == [THROTTLED] * 5
    assert all(s["message_id"] is None for s in submits if s["status"])


@pytest.mark.parametrize("as_nack", [False, True])
async def test_vendor_statuses_as_submit_resp_or_generic_nack(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp], as_nack: bool
) -> None:
    peer = await node_smsc(
        submit_rules=[{"status": 0x401, "count": 1}, {"status": 0x4FF, "count": 1}],
        as_generic_nack=as_nack,
    )
    client = await bound(peer, clients)
    first, second, third = [await client.submit() for _ in range(3)]
    expected = r.GENERIC_NACK if as_nack else r.SUBMIT_SM | r.RESP
    assert [(a.command_id, a.status, a.length) for a in (first, second)] == [
        (expected, 0x401, 16),
        (expected, 0x4FF, 16),
    ]
    assert (third.command_id, third.status) == (r.SUBMIT_SM | r.RESP, 0)
    assert [s["status"] for s in await peer.submits()] == [0x401, 0x4FF, 0]


async def test_connection_dropped_on_the_nth_submit_with_the_last_ones_unanswered(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp]
) -> None:
    peer = await node_smsc(drop_after=5, drop_hold=2, drop_times=1)
    client = await bound(peer, clients)
    # Eight in one write: the three after the fifth reach the socket but not the SMSC.
    await client.send(b"".join(submit_pdu(100 + i, b"m%d" % i) for i in range(8)))
    answered = [await client.read() for _ in range(2)]
    assert [(a.seq, a.status) for a in answered] == [(100, 0), (101, 0)]
    assert await client.closed_by_peer()  # and nothing for 102..104 came before the end

    state = await peer.wait_for(lambda s: len(s["disconnects"]) == 1)
    assert [s["answered"] for s in state["submits"]] == [True, True, False, False, False]
    assert state["drops"] == [{"session": 0, "reason": "drop_after", "submits": 5}]
    assert state["disconnects"] == [{"session": 0, "reason": "drop_after"}]
    # drop_times=1: the next session is left alone.
    again = await bound(peer, clients)
    assert {(await again.submit()).status for _ in range(8)} == {0}


async def test_slow_answers_and_no_answer(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp]
) -> None:
    peer = await node_smsc(delay_ms=300)
    client = await bound(peer, clients)
    began = time.monotonic()
    assert (await client.submit()).status == 0
    assert time.monotonic() - began >= 0.28

    await peer.configure(delay_ms=0, no_answer=True)
    await client.send(submit_pdu(77, b"never answered"))
    assert await client.nothing_within(0.5)
    submits = await peer.submits()
    assert [(s["seq"], s["answered"]) for s in submits] == [(2, True), (77, False)]
    assert submits[1]["message_id"]  # it was accepted, only the answer is missing

    # A hung SMSC: the link check goes unanswered too, and the socket stays open.
    await peer.configure(ignore_enquire_link=True)
    await client.send(r.pack(r.ENQUIRE_LINK, 78))
    assert await client.nothing_within(0.3)
    assert (await peer.received(with_submits=False))["enquire_links"] == 1


# -- delivery receipts ---------------------------------------------------------------------


RECEIPT = re.compile(
    r"id:(?P<id>\S+) sub:001 dlvrd:(?P<dlvrd>\d{3}) submit date:(?P<submit>\d+) "
    r"done date:(?P<done>\d+) stat:(?P<stat>\w+) err:(?P<err>\d{3}) text:(?P<text>.*)"
)


async def test_receipts_with_tlvs_and_text_several_per_submit(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp]
) -> None:
    peer = await node_smsc(dr={"states": ["ACCEPTD", "DELIVRD"], "delay_ms": 20})
    client = await bound(peer, clients)
    message_id = (
        await client.submit(b"Hello there, a receipt please", registered_delivery=1)
    ).cstring()
    drs = []
    for _ in range(2):
        dr = await client.read_deliver()
        await client.ack(dr)
        drs.append(dr)
    for dr, stat, code in zip(drs, ["ACCEPTD", "DELIVRD"], [6, 2], strict=True):
        assert (dr.esm_class, dr.source_addr, dr.destination_addr) == (0x04, "447700900123", "ACME")
        assert dr.tlvs[r.TAG_RECEIPTED_MESSAGE_ID] == message_id.encode() + b"\x00"
        assert dr.tlvs[r.TAG_MESSAGE_STATE] == bytes((code,))
        match = RECEIPT.fullmatch(dr.text)
        assert match, dr.text
        assert (match["id"], match["stat"], match["err"]) == (message_id, stat, "000")
        assert len(match["submit"]) == len(match["done"]) == 10
        assert match["text"] == "Hello there, a recei"  # the first 20 characters
    assert [d.tlvs[r.TAG_MESSAGE_STATE] for d in drs] == [b"\x06", b"\x02"]
    state = await peer.wait_for(lambda s: len(s["deliver_resps"]) == 2)
    assert [(d["kind"], d["status"]) for d in state["deliver_resps"]] == [("dr", 0), ("dr", 0)]
    assert [d["receipted_message_id"] for d in state["delivers"]] == [message_id] * 2
    # registered_delivery 0: no receipt.
    await client.submit(b"no receipt")
    assert await client.nothing_within(0.3)


async def test_receipt_text_only_decimal_id_twelve_digit_dates(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp]
) -> None:
    # The jsmpp quirk: a hex message_id in submit_sm_resp, the same number in decimal in the DR.
    peer = await node_smsc(dr={"tlvs": False, "id_format": "dec", "date_digits": 12})
    client = await bound(peer, clients)
    message_id = (await client.submit(b"hi", registered_delivery=1)).cstring()
    dr = await client.read_deliver()
    await client.ack(dr)
    assert dr.tlvs == {}
    match = RECEIPT.fullmatch(dr.text)
    assert match, dr.text
    assert match["id"] == str(int(message_id, 16))
    assert len(match["submit"]) == len(match["done"]) == 12
    assert (match["stat"], match["dlvrd"]) == ("DELIVRD", "001")


async def test_receipt_tlvs_only_and_failure_only_requests(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp]
) -> None:
    peer = await node_smsc(
        id_format="HEX0",
        dr={
            "states": ["ENROUTE", "UNDELIV"],
            "text": False,
            "err": "034",
            "network_error_code": "030022",
        },
    )
    client = await bound(peer, clients)
    # registered_delivery 2: receipts on failure only, so ENROUTE is skipped.
    message_id = (await client.submit(b"x", registered_delivery=2)).cstring()
    dr = await client.read_deliver()
    await client.ack(dr)
    assert dr.short_message == b""
    assert dr.tlvs == {
        r.TAG_RECEIPTED_MESSAGE_ID: message_id.encode() + b"\x00",
        r.TAG_MESSAGE_STATE: b"\x05",
        r.TAG_NETWORK_ERROR_CODE: bytes.fromhex("030022"),
    }
    assert re.fullmatch("00[0-9A-F]{8}", message_id)
    assert await client.nothing_within(0.3)


async def test_receipt_on_another_bind_of_the_same_account(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp]
) -> None:
    peer = await node_smsc(dr={"other_session": True})
    sender = await bound(peer, clients)
    other = await bound(peer, clients)
    message_id = (await sender.submit(b"x", registered_delivery=1)).cstring()
    dr = await other.read_deliver()
    await other.ack(dr)
    assert dr.tlvs[r.TAG_RECEIPTED_MESSAGE_ID] == message_id.encode() + b"\x00"
    assert await sender.nothing_within(0.3)
    state = await peer.wait_for(lambda s: len(s["deliver_resps"]) == 1)
    assert state["delivers"][0]["session"] == 1


async def test_receipt_before_the_submit_resp_and_on_a_pinned_session(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp]
) -> None:
    # The race gateways get wrong: the DR is on the wire before the submit_sm_resp.
    peer = await node_smsc(
        dr={"before_resp": True, "states": ["ACCEPTD", "DELIVRD"], "delay_ms": 100}
    )
    client = await bound(peer, clients)
    await client.send(submit_pdu(40, b"race", registered_delivery=1))
    first, resp = await client.read(), await client.read()
    assert (first.command_id, resp.command_id, resp.seq) == (r.DELIVER_SM, r.SUBMIT_SM | r.RESP, 40)
    dr = r.parse_deliver_sm(first)
    await client.ack(dr)
    assert dr.tlvs[r.TAG_RECEIPTED_MESSAGE_ID] == resp.cstring().encode() + b"\x00"
    assert dr.tlvs[r.TAG_MESSAGE_STATE] == b"\x06"  # ACCEPTD
    began = time.monotonic()
    second = await client.read_deliver()
    await client.ack(second)
    assert time.monotonic() - began >= 0.05
    assert second.tlvs[r.TAG_MESSAGE_STATE] == b"\x02"  # DELIVRD

    # dr.session: every receipt on session 1 (a receiver), whichever bind submitted.
    await peer.configure(dr={"session": 1})
    receiver = await bound(peer, clients, r.BIND_RECEIVER)
    other = await bound(peer, clients)
    for sender in (client, other):
        message_id = (await sender.submit(b"pinned", registered_delivery=1)).cstring()
        dr = await receiver.read_deliver()
        await receiver.ack(dr)
        assert dr.tlvs[r.TAG_RECEIPTED_MESSAGE_ID] == message_id.encode() + b"\x00"
    assert await client.nothing_within(0.2)
    assert await other.nothing_within(0.1)
    state = await peer.wait_for(lambda s: len(s["deliver_resps"]) == 4)
    assert [d["session"] for d in state["delivers"]] == [0, 0, 1, 1]
    assert {d["status"] for d in state["deliver_resps"]} == {0}


async def test_receipt_waits_for_a_receiver_when_only_a_transmitter_is_bound(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp]
) -> None:
    peer = await node_smsc(dr={"delay_ms": 10})
    transmitter = await bound(peer, clients, r.BIND_TRANSMITTER)
    message_id = (await transmitter.submit(b"x", registered_delivery=1)).cstring()
    await asyncio.sleep(0.2)
    assert (await peer.stats())["pending"] == 1
    receiver = await bound(peer, clients, r.BIND_RECEIVER)
    dr = await receiver.read_deliver()
    await receiver.ack(dr)
    assert dr.tlvs[r.TAG_RECEIPTED_MESSAGE_ID] == message_id.encode() + b"\x00"
    assert (await peer.stats())["pending"] == 0


async def test_receipt_on_demand_with_odd_fields(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp]
) -> None:
    peer = await node_smsc()
    client = await bound(peer, clients)
    sent = await peer.receipt("00000ABC", "EXPIRED", with_tlvs=False, date_digits=12, err="099")
    assert sent == [0]
    dr = await client.read_deliver()
    await client.ack(dr)
    match = RECEIPT.fullmatch(dr.text)
    assert match, dr.text
    assert (match["id"], match["stat"], match["err"], len(match["done"])) == (
        "00000ABC",
        "EXPIRED",
        "099",
        12,
    )
    assert dr.tlvs == {}
    # Raw text, TLVs as given, esm_class overridden, and a vendor TLV.
    await peer.receipt(
        "abc",
        "DELIVRD",
        text="id:ABC stat:DELIVRD",
        fields={"esm_class": 0x08},
        tlvs={0x1501: b"\x01"},
    )
    dr = await client.read_deliver()
    await client.ack(dr)
    assert (dr.text, dr.esm_class) == ("id:ABC stat:DELIVRD", 0x08)
    assert dr.tlvs == {
        r.TAG_RECEIPTED_MESSAGE_ID: b"abc\x00",
        r.TAG_MESSAGE_STATE: b"\x02",
        0x1501: b"\x01",
    }


# -- MOs --------------------------------------------------------------------------------------


async def test_mo_plain_gsm_and_ucs2_text(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp]
) -> None:
    peer = await node_smsc()
    client = await bound(peer, clients)
    fields = {
        "source_addr": "447700900123",
        "source_addr_ton": 1,
        "source_addr_npi": 1,
        "destination_addr": "60006",
    }
    assert await peer.deliver(fields, text="Hello @£€") == [0]
    mo = await client.read_deliver()
    await client.ack(mo)
    # GSM 03.38 unpacked: @ is 0x00, £ is 0x01, € is the escape 0x1B 0x65.
    assert mo.short_message == b"Hello \x00\x01\x1b\x65"
    assert (mo.source_addr, mo.source_ton, mo.source_npi, mo.destination_addr) == (
        "447700900123",
        1,
        1,
        "60006",
    )
    assert (mo.esm_class, mo.data_coding) == (0, 0)

    await peer.deliver({**fields, "data_coding": 8}, text="Привет 😀")
    mo = await client.read_deliver()
    await client.ack(mo)
    assert mo.data_coding == 8
    assert mo.short_message.decode("utf-16-be") == "Привет 😀"

    await peer.deliver(fields, b"\xff\x00raw")
    mo = await client.read_deliver()
    await client.ack(mo)
    assert mo.short_message == b"\xff\x00raw"
    state = await peer.wait_for(lambda s: len(s["deliver_resps"]) == 3)
    assert [(d["kind"], d["status"]) for d in state["deliver_resps"]] == [("mo", 0)] * 3


@pytest.mark.parametrize(
    ("ref_bits", "udh"),
    [(8, bytes((5, 0x00, 3, 0xCD))), (16, bytes((6, 0x08, 4, 0xAB, 0xCD)))],
)
async def test_mo_concatenated_with_udh_references(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp], ref_bits: int, udh: bytes
) -> None:
    peer = await node_smsc()
    client = await bound(peer, clients)
    parts = ["Привет, ", "мир"]
    # Sent out of order, as networks do.
    for seq in (2, 1):
        await peer.deliver(
            {"source_addr": "447700900123", "destination_addr": "60006", "data_coding": 8},
            text=parts[seq - 1],
            udh={"ref": 0xABCD, "total": 2, "seq": seq, "ref_bits": ref_bits},
        )
    got = []
    for _ in range(2):
        mo = await client.read_deliver()
        await client.ack(mo)
        got.append(mo)
    for mo, seq in zip(got, (2, 1), strict=True):
        assert mo.esm_class & 0x40
        head = mo.short_message[: len(udh) + 2]
        assert head == udh + bytes((2, seq))
        assert mo.short_message[len(head) :].decode("utf-16-be") == parts[seq - 1]


async def test_mo_sar_tlvs_message_payload_and_session_choice(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp]
) -> None:
    peer = await node_smsc()
    one, two = await bound(peer, clients), await bound(peer, clients)
    transmitter = await bound(peer, clients, r.BIND_TRANSMITTER)
    fields = {"source_addr": "447700900123", "destination_addr": "60006"}
    assert await peer.deliver(
        fields, b"part", session=1, sar={"ref": 0x1234, "total": 3, "seq": 2}
    ) == [1]
    mo = await two.read_deliver()
    await two.ack(mo)
    assert mo.tlvs == {
        r.TAG_SAR_MSG_REF_NUM: b"\x12\x34",
        r.TAG_SAR_TOTAL_SEGMENTS: b"\x03",
        r.TAG_SAR_SEGMENT_SEQNUM: b"\x02",
    }
    assert await peer.deliver(fields, message_payload=b"long " * 60, session=0) == [0]
    mo = await one.read_deliver()
    await one.ack(mo)
    assert (mo.short_message, mo.tlvs[r.TAG_MESSAGE_PAYLOAD]) == (b"", b"long " * 60)
    # "all": every receiver-capable bind, not the transmitter.
    assert sorted(await peer.deliver(fields, b"to all", session="all")) == [0, 1]
    for client in (one, two):
        mo = await client.read_deliver()
        await client.ack(mo)
        assert mo.short_message == b"to all"
    assert await transmitter.nothing_within(0.3)
    assert await peer.deliver(fields, b"x", session=2) == []  # a transmitter cannot take it


# -- faults the peer sends -------------------------------------------------------------------


async def test_malformed_pdus_on_demand(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp]
) -> None:
    peer = await node_smsc()
    client = await bound(peer, clients)
    assert await peer.malformed("unknown_command") == [0]
    pdu = await client.read()
    assert (pdu.command_id, pdu.length) == (0x666, 16)
    await peer.malformed("bad_body")
    pdu = await client.read()
    assert (pdu.command_id, pdu.body) == (r.DELIVER_SM, b"ABCDEFGH")  # service_type without NUL
    await peer.malformed("bad_tlv")
    pdu = await client.read()
    assert pdu.body.endswith(bytes.fromhex("0427002002"))  # TLV says 32 octets, 1 follows
    await peer.malformed("short_length")
    assert await client.read_bytes(16) == struct.pack(">IIII", 8, 5, 0, 4243)
    await peer.raw(b"\x00\x00\x00\x10garbage!")
    assert await client.read_bytes(12) == b"\x00\x00\x00\x10garbage!"
    with pytest.raises(Exception, match="kind must be one of"):
        await peer.malformed("nonsense")
    state = await peer.received()
    assert [m["kind"] for m in state["malformed_sent"]] == [
        "unknown_command",
        "bad_body",
        "bad_tlv",
        "short_length",
    ]


async def test_what_the_peer_does_with_bad_input(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp]
) -> None:
    peer = await node_smsc()
    client = await bound(peer, clients)
    nack = await client.request(0x00000666)  # an unknown command: generic_nack, still bound
    assert (nack.command_id, nack.status) == (r.GENERIC_NACK, INVCMDID)
    assert (await client.submit()).status == 0
    await client.send(r.pack(r.GENERIC_NACK, 9, status=0x08))  # our nack is recorded
    await client.send(struct.pack(">IIII", 0x7FFFFFFF, 4, 0, 1))  # a length that lies
    assert await client.closed_by_peer()
    state = await peer.wait_for(lambda s: bool(s["disconnects"]))
    assert state["unknown"] == [{"session": 0, "command_id": 0x666, "command": "unknown"}]
    assert state["generic_nacks"] == [{"session": 0, "status": 8, "seq": 9}]
    assert "too large" in state["errors"][0]["message"]
    assert state["disconnects"] == [{"session": 0, "reason": "error"}]


QUERY_SM, REPLACE_SM, CANCEL_SM, SUBMIT_MULTI, DATA_SM = 0x03, 0x07, 0x08, 0x21, 0x103


@pytest.mark.parametrize("as_resp", [False, True])
async def test_unsupported_commands_are_refused_not_left_hanging(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp], as_resp: bool
) -> None:
    # The aggregator supports no query_sm, replace_sm, cancel_sm, submit_multi (nor data_sm);
    # node-smpp parses them but answers nothing unless told to.
    peer = await node_smsc(unsupported_as_resp=as_resp)
    client = await bound(peer, clients)
    query = r.cstr("3a2b1c00") + bytes((5, 0)) + r.cstr("ACME")
    answers = [await client.request(QUERY_SM, query)]
    for command_id in (REPLACE_SM, CANCEL_SM, SUBMIT_MULTI, DATA_SM, 0x00000666):
        answers.append(await client.request(command_id))
    expected = [
        (c | r.RESP if as_resp and c != 0x666 else r.GENERIC_NACK, INVCMDID, 16)
        for c in (QUERY_SM, REPLACE_SM, CANCEL_SM, SUBMIT_MULTI, DATA_SM, 0x666)
    ]
    assert [(a.command_id, a.status, a.length) for a in answers] == expected
    assert (await client.submit()).status == 0  # still bound
    state = await peer.received()
    assert [u["command"] for u in state["unknown"]] == [
        "query_sm",
        "replace_sm",
        "cancel_sm",
        "submit_multi",
        "data_sm",
        "unknown",
    ]


async def test_drop_and_smsc_initiated_unbind_on_demand(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp]
) -> None:
    peer = await node_smsc()
    one, two = await bound(peer, clients), await bound(peer, clients)
    assert await peer.unbind(session=1) == [1]
    unbind = await two.read()
    assert unbind.command_id == r.UNBIND
    await two.send(r.pack(r.UNBIND | r.RESP, unbind.seq))
    assert await two.closed_by_peer()
    assert await peer.drop() == 1
    assert await one.closed_by_peer()
    state = await peer.wait_for(lambda s: len(s["disconnects"]) == 2)
    assert state["unbinds"] == [{"session": 1, "by": "smsc"}]
    assert state["drops"] == [{"session": 0, "reason": "control", "submits": 0}]
    assert sorted(d["reason"] for d in state["disconnects"]) == ["control", "unbind"]
    assert [s["bound"] for s in await peer.sessions()] == [False, False]


# -- redelivery --------------------------------------------------------------------------------


async def test_redelivery_after_a_temporary_error_then_stored(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp]
) -> None:
    peer = await node_smsc(redeliver={"delay_ms": 150, "max": 3})
    client = await bound(peer, clients)
    await peer.deliver({"source_addr": "447700900123", "destination_addr": "60006"}, b"hello")
    first = await client.read_deliver()
    await client.ack(first, RX_T_APPN)
    began = time.monotonic()
    second = await client.read_deliver()
    assert time.monotonic() - began >= 0.13
    await client.ack(second)
    assert (second.short_message, second.source_addr) == (first.short_message, first.source_addr)
    assert second.seq != first.seq
    state = await peer.wait_for(lambda s: len(s["deliver_resps"]) == 2)
    assert [(d["delivery"], d["attempt"], d["status"]) for d in state["deliver_resps"]] == [
        (0, 1, RX_T_APPN),
        (0, 2, 0),
    ]
    assert [d["attempt"] for d in state["delivers"]] == [1, 2]


async def test_redelivery_on_timeout_and_limits(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp]
) -> None:
    peer = await node_smsc(redeliver={"delay_ms": 50, "max": 2, "timeout_ms": 200})
    client = await bound(peer, clients)
    fields = {"source_addr": "447700900123", "destination_addr": "60006"}
    await peer.deliver(fields, b"unanswered")
    seqs = [(await client.read_deliver(2)).seq for _ in range(3)]  # first + 2 redeliveries
    assert len(set(seqs)) == 3
    assert await client.nothing_within(0.6)  # max reached
    # A permanent error (ESME_RX_P_APPN) is not redelivered.
    await peer.deliver(fields, b"refused")
    await client.ack(await client.read_deliver(), RX_P_APPN)
    assert await client.nothing_within(0.5)
    state = await peer.received()
    assert [(d["attempt"], d["status"], d.get("timeout")) for d in state["deliver_resps"]] == [
        (1, None, True),
        (2, None, True),
        (3, None, True),
        (1, RX_P_APPN, None),
    ]


async def test_redelivery_when_the_bind_dies_goes_to_the_next_bind(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp]
) -> None:
    peer = await node_smsc(redeliver={"delay_ms": 50, "max": 3})
    first = await bound(peer, clients)
    await peer.deliver({"source_addr": "447700900123", "destination_addr": "60006"}, b"keep me")
    await first.read_deliver()
    await first.close()  # gone before it answered
    await asyncio.sleep(0.2)
    second = await bound(peer, clients)
    mo = await second.read_deliver()
    await second.ack(mo)
    assert mo.short_message == b"keep me"
    state = await peer.wait_for(lambda s: len(s["deliver_resps"]) == 2)
    assert [(d["session"], d["status"], d.get("closed")) for d in state["deliver_resps"]] == [
        (0, None, True),
        (1, 0, None),
    ]


# -- TLS, bookkeeping, speed ----------------------------------------------------------------


async def test_tls_bind_and_submit(node_smsc: NodeSmscFactory, clients: list[r.RawSmpp]) -> None:
    peer = await node_smsc(tls=True, dr={})
    assert peer.tls_cert is not None
    context = ssl.create_default_context(cafile=str(peer.tls_cert))
    client = await bound(peer, clients, tls=context)
    message_id = (await client.submit(b"over tls", registered_delivery=1)).cstring()
    dr = await client.read_deliver()
    await client.ack(dr)
    assert dr.tlvs[r.TAG_RECEIPTED_MESSAGE_ID] == message_id.encode() + b"\x00"
    # A client that does not trust the certificate gets no session.
    with pytest.raises(ssl.SSLError):
        await r.RawSmpp.connect(
            peer.port, tls=ssl.create_default_context(), server_hostname="localhost"
        )
    # Nor does a plain-TCP client.
    plain = await r.RawSmpp.connect(peer.port)
    clients.append(plain)
    await plain.send(r.pack(r.BIND_TRANSCEIVER, 1, r.bind_body("acme", "pw")))
    assert await plain.closed_by_peer()
    state = await peer.received()
    assert [b["status"] for b in state["binds"]] == [0]
    assert any(e["message"].startswith("tls:") for e in state["errors"])


async def test_reset_stats_and_config(node_smsc: NodeSmscFactory, clients: list[r.RawSmpp]) -> None:
    peer = await node_smsc(id_format="dec")
    client = await bound(peer, clients)
    for _ in range(3):
        await client.submit()
    assert (await peer.stats())["submits"] == 3
    assert (await peer.get_config())["id_format"] == "dec"
    assert len(await peer.submits(1, 1)) == 1
    assert (await peer.received(with_submits=False))["submits"] == []
    await peer.reset()
    assert await peer.submits() == []
    assert (await peer.stats())["submits"] == 0
    assert (await client.submit()).status == 0  # the session itself is untouched


async def test_sustains_a_fast_pipelined_burst(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp]
) -> None:
    peer = await node_smsc()
    client = await bound(peer, clients)
    count = 20_000
    body = r.submit_sm_body("ACME", "447700900123", b"benchmark message body " * 2)
    burst = b"".join(r.pack(r.SUBMIT_SM, 10 + i, body) for i in range(count))
    began = time.monotonic()
    await client.send(burst)
    seqs = [(await client.read()).seq for _ in range(count)]
    elapsed = time.monotonic() - began
    assert seqs == list(range(10, 10 + count))  # answered in order, none lost
    assert count / elapsed > 2_000, f"{count / elapsed:.0f} submit_sm/s"  # about 20k/s idle
    stats = await peer.stats()
    assert (stats["submits"], stats["answered"]) == (count, count)
    ids = {s["message_id"] for s in await peer.submits()}
    assert len(ids) == count


async def test_counts_only_when_not_recording(
    node_smsc: NodeSmscFactory, clients: list[r.RawSmpp]
) -> None:
    # record=false (for benchmarks): counters, but no per-submit records held in memory.
    peer = await node_smsc(record=False, id_format="dec0", id_width=14, id_start=7)
    client = await bound(peer, clients)
    assert [(await client.submit()).cstring() for _ in range(3)] == [
        "00000000000007",
        "00000000000008",
        "00000000000009",
    ]
    assert await peer.submits() == []
    stats = await peer.stats()
    assert (stats["submits"], stats["answered"]) == (3, 3)


async def test_several_peers_at_once(node_smsc: NodeSmscFactory, clients: list[r.RawSmpp]) -> None:
    peers = await node_smsc.many(3, id_format="HEX")
    assert len({p.port for p in peers}) == 3
    for peer in peers:
        client = await bound(peer, clients)
        assert re.fullmatch("[0-9A-F]+", (await client.submit()).cstring())
