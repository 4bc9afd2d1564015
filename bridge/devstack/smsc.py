"""The project's own SMSC simulator, written on our codec: for the demo and the dev stack.

Tests never rely on it alone: the SMPP layer is tested against the independent npm
``smpp`` peer (tests/peers/smsc). This one accepts transceiver binds, answers submit_sm
with hexadecimal message ids, sends delivery receipts (TLVs and text, possibly through
another bound session, as the aggregator may) and MOs on demand, and can go down and come
back so that the demo shows the failover.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from dataclasses import dataclass, field

from bridge.smpp import pdu as p
from bridge.smpp.codec import Framer, PduDecodeError, encode
from bridge.smpp.constants import CommandStatus, MessageState, Tag


@dataclass(eq=False)  # identity: kept in a set
class _Client:
    writer: asyncio.StreamWriter
    system_id: str = ""
    bound: bool = False
    sequence: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def send(self, pdu: p.Pdu) -> None:
        if not self.writer.is_closing():
            self.writer.write(encode(pdu))


@dataclass(frozen=True, slots=True)
class Submitted:
    message_id: str
    source: str
    destination: str
    registered_delivery: int
    data_coding: int
    short_message: bytes
    at: float


class SimulatedSmsc:
    """One SMSC on loopback. ``receipts`` chooses the DR states sent for each MT that asks."""

    def __init__(
        self,
        name: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        receipts: tuple[MessageState, ...] = (MessageState.DELIVERED,),
        receipt_delay_s: float = 0.2,
        peers: list[SimulatedSmsc] | None = None,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.receipts = receipts
        self.receipt_delay_s = receipt_delay_s
        # Other SMSCs of the same service: a DR may come back through any of them.
        self.peers = peers if peers is not None else []
        self.submitted: list[Submitted] = []
        self._server: asyncio.Server | None = None
        self._clients: set[_Client] = set()
        self._ids = itertools.count(random.randrange(0x100000, 0xFFFFFF))
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close the listener and drop every session (a site outage)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for client in list(self._clients):
            client.writer.close()
        self._clients.clear()
        for task in list(self._tasks):
            task.cancel()

    @property
    def up(self) -> bool:
        return self._server is not None

    def bound_sessions(self) -> int:
        return sum(1 for c in self._clients if c.bound)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = _Client(writer)
        self._clients.add(client)
        framer = Framer()
        try:
            while data := await reader.read(65536):
                for item in framer.feed(data):
                    if isinstance(item, PduDecodeError):
                        if not item.in_sync:
                            return
                        if item.sequence_number is not None:
                            client.send(
                                p.GenericNack(
                                    command_status=item.status, sequence_number=item.sequence_number
                                )
                            )
                        continue
                    self._handle(client, item)
        except (ConnectionError, OSError):
            pass
        finally:
            self._clients.discard(client)
            writer.close()

    def _handle(self, client: _Client, pdu: p.Pdu) -> None:
        seq = pdu.sequence_number
        if isinstance(pdu, (p.BindTransceiver, p.BindTransmitter, p.BindReceiver)):
            client.system_id, client.bound = pdu.system_id, True
            resp = {
                p.BindTransceiver: p.BindTransceiverResp,
                p.BindTransmitter: p.BindTransmitterResp,
                p.BindReceiver: p.BindReceiverResp,
            }[type(pdu)]
            client.send(resp(sequence_number=seq, system_id=self.name[:15]))
        elif isinstance(pdu, p.SubmitSm):
            if not client.bound:
                client.send(
                    p.SubmitSmResp(
                        command_status=CommandStatus.ESME_RINVBNDSTS, sequence_number=seq
                    )
                )
                return
            message_id = format(next(self._ids), "x")
            client.send(p.SubmitSmResp(sequence_number=seq, message_id=message_id))
            self.submitted.append(
                Submitted(
                    message_id,
                    pdu.source_addr,
                    pdu.destination_addr,
                    pdu.registered_delivery,
                    pdu.data_coding,
                    pdu.short_message,
                    time.time(),
                )
            )
            if pdu.registered_delivery & 1 and self.receipts:
                self._spawn(self._receipts(message_id, pdu))
        elif isinstance(pdu, p.EnquireLink):
            client.send(p.EnquireLinkResp(sequence_number=seq))
        elif isinstance(pdu, p.Unbind):
            client.send(p.UnbindResp(sequence_number=seq))
            client.writer.close()
        elif isinstance(pdu, (p.DeliverSmResp, p.DataSmResp, p.EnquireLinkResp, p.GenericNack)):
            pass
        else:
            client.send(
                p.GenericNack(command_status=CommandStatus.ESME_RINVCMDID, sequence_number=seq)
            )

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _receipts(self, message_id: str, submit: p.SubmitSm) -> None:
        for state in self.receipts:
            await asyncio.sleep(self.receipt_delay_s)
            # Any SMSC of the service that is up may carry it (the aggregator's rule).
            carriers = [s for s in [self, *self.peers] if s.up and s.bound_sessions()]
            if not carriers:
                return
            random.choice(carriers).deliver(receipt_pdu(message_id, state, submit))

    def deliver(self, pdu: p.DeliverSm) -> bool:
        """Send a deliver_sm on one bound session; False when none is bound."""
        bound = [c for c in self._clients if c.bound]
        if not bound:
            return False
        client = random.choice(bound)
        pdu.sequence_number = next(client.sequence)
        client.send(pdu)
        return True

    def send_mo(self, sender: str, recipient: str, text: str) -> bool:
        return self.deliver(
            p.DeliverSm(
                source_addr=sender,
                destination_addr=recipient,
                source_addr_ton=1,
                source_addr_npi=1,
                short_message=text.encode("latin-1", "replace"),
            )
        )


_STAT = {
    MessageState.DELIVERED: "DELIVRD",
    MessageState.EXPIRED: "EXPIRED",
    MessageState.DELETED: "DELETED",
    MessageState.UNDELIVERABLE: "UNDELIV",
    MessageState.ACCEPTED: "ACCEPTD",
    MessageState.UNKNOWN: "UNKNOWN",
    MessageState.REJECTED: "REJECTD",
    MessageState.ENROUTE: "ENROUTE",
}


def receipt_pdu(message_id: str, state: MessageState, submit: p.SubmitSm) -> p.DeliverSm:
    stamp = time.strftime("%y%m%d%H%M")
    final = state not in (MessageState.ENROUTE, MessageState.ACCEPTED)
    text = (
        f"id:{message_id} sub:001 dlvrd:{'001' if state == MessageState.DELIVERED else '000'} "
        f"submit date:{stamp} done date:{stamp} stat:{_STAT[state]} err:000 text:"
    )
    return p.DeliverSm(
        source_addr=submit.destination_addr,
        destination_addr=submit.source_addr,
        esm_class=0x04 if final else 0x20,
        short_message=text.encode("ascii"),
        tlvs=[
            (Tag.RECEIPTED_MESSAGE_ID, message_id.encode("ascii") + b"\x00"),
            (Tag.MESSAGE_STATE, bytes((state,))),
        ],
    )


async def main() -> None:  # pragma: no cover - manual use
    smsc = SimulatedSmsc("sim")
    await smsc.start()
    print(f"SMSC on {smsc.host}:{smsc.port}")
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.Event().wait()
