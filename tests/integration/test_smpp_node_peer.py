"""Our SMPP session and bind pool against the independent node-smpp SMSC, faults included."""

from __future__ import annotations

import asyncio
import ssl
import struct
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from bridge.config.settings import MessageIdForm
from bridge.smpp import pdu as p
from bridge.smpp.constants import CommandStatus, MessageState
from bridge.smpp.ids import receipt_id_key, submit_id_key
from bridge.smpp.pool import BindPool, BindState, BindTarget, NoActiveBind
from bridge.smpp.receipts import is_receipt, parse_mo, parse_receipt
from bridge.smpp.session import ResultKind, SessionSettings, SmppSession
from tests.support.smsc_peer import NodeSmsc, NodeSmscFactory


class Inbox:
    """An inbound handler that stores what it is given (or refuses, to test redelivery)."""

    def __init__(self) -> None:
        self.pdus: list[p.DeliverSm | p.DataSm] = []
        self.refuse = 0

    async def __call__(self, session: SmppSession, pdu: p.DeliverSm | p.DataSm) -> bool:
        if self.refuse:
            self.refuse -= 1
            return False
        self.pdus.append(pdu)
        return True

    async def wait(self, count: int, timeout_s: float = 10) -> list[p.DeliverSm | p.DataSm]:
        async with asyncio.timeout(timeout_s):
            while len(self.pdus) < count:
                await asyncio.sleep(0.02)
        return self.pdus


def settings(peer: NodeSmsc, **overrides: object) -> SessionSettings:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": peer.port,
        "system_id": "acme",
        "password": "pw",
        "window": 50,
        "response_timeout_s": 5.0,
    }
    values.update(overrides)
    return SessionSettings(**values)  # type: ignore[arg-type]


def submit(text: str, dest: str = "447700900123", receipt: bool = False) -> p.SubmitSm:
    return p.SubmitSm(
        source_addr="ACME",
        source_addr_ton=5,
        destination_addr=dest,
        dest_addr_ton=1,
        dest_addr_npi=1,
        registered_delivery=1 if receipt else 0,
        short_message=text.encode("ascii"),
    )


async def open_session(
    peer: NodeSmsc, inbox: Inbox | None = None, **overrides: object
) -> SmppSession:
    session = SmppSession(settings(peer, **overrides), inbox or Inbox())
    await session.open()
    return session


async def test_four_smscs_ten_thousand_submits_each_once(node_smsc: NodeSmscFactory) -> None:
    peers = [await node_smsc() for _ in range(4)]
    targets = [
        BindTarget(site, f"smc{i}", settings(peer))
        for (site, i), peer in zip(
            [("dc3", 1), ("dc3", 2), ("bos", 1), ("bos", 2)], peers, strict=True
        )
    ]
    pool = BindPool(targets, {}, Inbox())
    pool.start()
    assert await pool.wait_bound(timeout_s=10) == 4
    limit = asyncio.Semaphore(4 * 50)

    async def one(i: int) -> ResultKind:
        async with limit:
            result = await pool.submit([submit(f"m{i}")])
            (part,) = result.results
            return part.kind

    try:
        kinds = await asyncio.gather(*(one(i) for i in range(10_000)))
    finally:
        await pool.stop()
    assert Counter(kinds) == {ResultKind.OK: 10_000}
    per_peer = [await peer.submits() for peer in peers]
    seen = Counter(
        bytes.fromhex(s["short_message"]).decode("ascii") for submits in per_peer for s in submits
    )
    assert len(seen) == 10_000
    assert set(seen.values()) == {1}
    assert all(len(submits) > 1000 for submits in per_peer)  # all four carried traffic
    assert all(s["state"] == "stopped" for s in pool.snapshot())


async def test_rejected_bind_rebinds_after_the_interval_while_others_carry(
    node_smsc: NodeSmscFactory,
) -> None:
    good = await node_smsc()
    bad = await node_smsc(bind_status=CommandStatus.ESME_RBINDFAIL)
    pool = BindPool(
        [
            BindTarget("dc3", "good", settings(good)),
            BindTarget("bos", "bad", settings(bad), rebind_interval_s=1.0, rebind_jitter_s=0.1),
        ],
        {},
        Inbox(),
    )
    pool.start()
    try:
        assert await pool.wait_bound(1, timeout_s=5) == 1
        result = await pool.submit([submit("while one is down")])
        assert result.smsc == "good"
        await bad.configure(bind_status=0)
        assert await pool.wait_bound(2, timeout_s=5) == 2
        bad_slot = next(s for s in pool.slots if s.target.smsc == "bad")
        gaps = [
            b - a for a, b in zip(bad_slot.attempt_times, bad_slot.attempt_times[1:], strict=False)
        ]
        assert gaps
        assert all(gap >= 1.0 for gap in gaps)
        assert [b["status"] for b in (await bad.received())["binds"]][-1] == 0
    finally:
        await pool.stop()


async def test_no_active_bind_answers_at_once(node_smsc: NodeSmscFactory) -> None:
    peer = await node_smsc(bind_status=CommandStatus.ESME_RINVPASWD)
    pool = BindPool([BindTarget("dc3", "smc1", settings(peer), rebind_interval_s=60)], {}, Inbox())
    pool.start()
    try:
        await asyncio.sleep(0.3)
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(NoActiveBind):
            await pool.submit([submit("nowhere to go")])
        assert loop.time() - began < 0.05
        assert pool.slots[0].state is BindState.BACKING_OFF
        assert "ESME_RINVPASWD" in pool.slots[0].last_error
    finally:
        await pool.stop()
    assert await peer.submits() == []


async def test_throttling_pauses_the_bind_and_hands_back(node_smsc: NodeSmscFactory) -> None:
    peer = await node_smsc(
        submit_rules=[
            {"status": CommandStatus.ESME_RTHROTTLED, "count": 2},
            {"status": CommandStatus.ESME_RMSGQFUL, "count": 1},
        ]
    )
    session = await open_session(peer, throttle_backoff_s=0.3)
    try:
        loop = asyncio.get_running_loop()
        first = await session.submit(submit("a"))
        assert (first.kind, first.status) == (ResultKind.RETRY, CommandStatus.ESME_RTHROTTLED)
        assert not session.has_room()  # paused
        began = loop.time()
        second = await session.submit(submit("b"))
        assert loop.time() - began >= 0.25  # waited out the back-off before sending again
        assert second.kind is ResultKind.RETRY
        third = await session.submit(submit("c"))
        assert (third.kind, third.status) == (ResultKind.RETRY, CommandStatus.ESME_RMSGQFUL)
        fourth = await session.submit(submit("d"))
        assert fourth.kind is ResultKind.OK
        assert session.bound
    finally:
        await session.unbind()


@pytest.mark.parametrize("as_nack", [False, True])
async def test_vendor_statuses_are_numbers_and_the_bind_stays(
    node_smsc: NodeSmscFactory, as_nack: bool
) -> None:
    peer = await node_smsc(submit_rules=[{"status": 0x401, "count": 1}], as_generic_nack=as_nack)
    session = await open_session(peer)
    try:
        result = await session.submit(submit("vendor"))
        assert (result.kind, result.status) == (ResultKind.ERROR, 0x401)
        assert "vendor-specific (0x0401)" in result.reason
        assert (await session.submit(submit("next"))).kind is ResultKind.OK
    finally:
        await session.unbind()


async def test_a_dropped_bind_makes_in_flight_unknown_and_traffic_moves(
    node_smsc: NodeSmscFactory,
) -> None:
    dropping = await node_smsc(drop_after=30, delay_ms=200)
    steady = await node_smsc()
    pool = BindPool(
        [
            BindTarget("dc3", "dropping", settings(dropping), rebind_interval_s=60),
            BindTarget("bos", "steady", settings(steady)),
        ],
        {},
        Inbox(),
    )
    pool.start()
    try:
        assert await pool.wait_bound(timeout_s=5) == 2
        results = await asyncio.gather(*(pool.submit([submit(f"x{i}")]) for i in range(100)))
        by_smsc = Counter((r.smsc, r.results[0].kind) for r in results)
        assert by_smsc[("dropping", ResultKind.UNKNOWN)] >= 29  # in flight when it dropped
        assert by_smsc[("dropping", ResultKind.OK)] == 0  # the 200 ms answers never came
        assert sum(by_smsc.values()) == 100
        later = await asyncio.gather(*(pool.submit([submit(f"y{i}")]) for i in range(20)))
        assert {r.smsc for r in later} == {"steady"}
        assert all(r.results[0].kind is ResultKind.OK for r in later)
    finally:
        await pool.stop()


async def test_slow_answers_become_unknown_never_failed(node_smsc: NodeSmscFactory) -> None:
    peer = await node_smsc(delay_ms=1500)
    session = await open_session(peer, response_timeout_s=0.5)
    try:
        result = await session.submit(submit("slow"))
        assert result.kind is ResultKind.UNKNOWN
        assert len(await peer.submits()) == 1  # it did reach the SMSC
        assert session.bound
    finally:
        await session.unbind(0.1)


async def test_malformed_pdus_in_sync_and_out_of_sync(node_smsc: NodeSmscFactory) -> None:
    peer = await node_smsc()
    session = await open_session(peer)
    try:
        # A deliver_sm whose service_type has no NUL within its 6 octets: answerable.
        body = b"ABCDEFGH"
        await peer.raw(struct.pack(">IIII", 16 + len(body), 0x05, 0, 4242) + body)
        await asyncio.sleep(0.3)
        assert session.bound
        assert session.counters.get("malformed") == 1
        assert (await session.submit(submit("still fine"))).kind is ResultKind.OK
        # A command_length that lies: the stream cannot be trusted any more.
        await peer.raw(struct.pack(">IIII", 8, 0x05, 0, 4243))
        await asyncio.wait_for(session.closed.wait(), 5)
        assert "out of sync" in session.close_reason
    finally:
        await session.unbind(0.1)


async def test_receipts_tlv_text_twelve_digits_and_decimal_ids(node_smsc: NodeSmscFactory) -> None:
    inbox = Inbox()
    peer = await node_smsc(
        dr={
            "states": ["ACCEPTD", "DELIVRD"],
            "delay_ms": 20,
            "id_format": "dec",
            "date_digits": 12,
            "tlvs": False,
        }
    )
    session = await open_session(peer, inbox)
    try:
        result = await session.submit(submit("with a receipt", receipt=True))
        assert result.message_id is not None
        drs = await inbox.wait(2)
    finally:
        await session.unbind()
    receipts = [parse_receipt(d) for d in drs if isinstance(d, p.DeliverSm) and is_receipt(d)]
    assert [r.state for r in receipts] == [MessageState.ACCEPTED, MessageState.DELIVERED]
    key = submit_id_key(result.message_id, MessageIdForm.HEX_TO_DEC)
    assert {receipt_id_key(r.message_id or "", MessageIdForm.HEX_TO_DEC) for r in receipts} == {key}
    assert receipts[1].done_date is not None
    assert receipts[1].done_date.second is not None
    assert receipts[1].problems == ()


async def test_receipt_with_tlvs_reads_them_first(node_smsc: NodeSmscFactory) -> None:
    inbox = Inbox()
    peer = await node_smsc(dr={"states": ["UNDELIV"], "text": False})
    session = await open_session(peer, inbox)
    try:
        result = await session.submit(submit("tlv receipt", receipt=True))
        (dr,) = await inbox.wait(1)
    finally:
        await session.unbind()
    receipt = parse_receipt(dr)
    assert (receipt.message_id, receipt.state) == (result.message_id, MessageState.UNDELIVERABLE)


async def test_concatenated_ucs2_mo_with_16_bit_reference(node_smsc: NodeSmscFactory) -> None:
    inbox = Inbox()
    peer = await node_smsc()
    session = await open_session(peer, inbox)
    try:
        parts = ["Привет, ", "мир 😀"]
        for seq, text in enumerate(parts, start=1):
            udh = bytes((6, 0x08, 4, 0xAB, 0xCD, 2, seq))
            await peer.deliver(
                {
                    "source_addr": "447700900123",
                    "destination_addr": "60006",
                    "esm_class": 0x40,
                    "data_coding": 8,
                },
                udh + text.encode("utf-16-be"),
            )
        got = await inbox.wait(2)
    finally:
        await session.unbind()
    mos = [parse_mo(pdu) for pdu in got]
    assert [(m.concatenation.reference, m.concatenation.seq) for m in mos if m.concatenation] == [
        (0xABCD, 1),
        (0xABCD, 2),
    ]
    assert "".join(m.text.text or "" for m in mos) == "Привет, мир 😀"
    assert mos[0].sender == "447700900123"


async def test_a_refused_deliver_sm_is_redelivered_then_stored(node_smsc: NodeSmscFactory) -> None:
    inbox = Inbox()
    inbox.refuse = 1
    peer = await node_smsc(redeliver={"delay_ms": 100, "max": 3})
    session = await open_session(peer, inbox)
    try:
        await peer.deliver({"source_addr": "447700900123", "destination_addr": "60006"}, b"hello")
        (stored,) = await inbox.wait(1)
        state = await peer.wait_for(lambda r: len(r["deliver_resps"]) >= 2)
    finally:
        await session.unbind()
    assert stored.short_message == b"hello"
    assert [r["status"] for r in state["deliver_resps"]] == [CommandStatus.ESME_RX_T_APPN, 0]


async def test_tls_bind(node_smsc: NodeSmscFactory, tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    peer = await node_smsc(tls={"key": str(key), "cert": str(cert)})
    context = ssl.create_default_context(cafile=str(cert))
    session = await open_session(peer, tls=context, tls_server_hostname="localhost")
    try:
        assert (await session.submit(submit("over tls"))).kind is ResultKind.OK
    finally:
        await session.unbind()
    # And a client that does not trust the certificate does not bind.
    with pytest.raises(ssl.SSLError):
        await open_session(peer, tls=ssl.create_default_context(), tls_server_hostname="localhost")
