"""Ingest: every MO and DR, from any bind or callback, becomes a raw inbound record first.

The SMSC or the HTTP caller is answered only after Kafka acknowledged the record (an
idempotent producer, acks=all); when it cannot, the answer is a temporary error and the
sender delivers again. The dedup stage downstream removes the repeats that this creates.

Records are keyed so that everything that must meet lands on one partition:

- a DR by its message-id key (``smpp:<key>`` normalised per SMSC, ``http:<message_id>``),
  the same key as the correlation record of its MT;
- an MO by the provider's message id where it has one (HTTP), otherwise by its
  concatenation identity (sender, recipient, reference) for parts, and by a content key
  for single messages.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from bridge.config.settings import SmscConfig
from bridge.http.receiver import CallbackEvent, SinkUnavailable
from bridge.kafka.serde import Serde
from bridge.smpp import pdu as p
from bridge.smpp.ids import receipt_id_key
from bridge.smpp.receipts import is_receipt, parse_mo, parse_receipt

log = logging.getLogger(__name__)


def now_ms() -> int:
    return int(time.time() * 1000)


class RawInboundWriter:
    """Writes raw inbound records and waits for the broker's acknowledgement."""

    def __init__(
        self, connection: dict[str, Any], topic: str, serde: Serde, write_timeout_s: float = 5.0
    ) -> None:
        self.topic = topic
        self._serde = serde
        self._timeout = write_timeout_s
        self._producer = AIOKafkaProducer(
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
            request_timeout_ms=int(write_timeout_s * 1000),
            **connection,
        )
        self._failing_since: float | None = None
        self.written = 0

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    def ready(self) -> bool:
        return self._failing_since is None

    async def write(self, key: str, record: dict[str, Any]) -> None:
        value = self._serde.encode("RawInbound", record)
        try:
            async with asyncio.timeout(self._timeout):
                await self._producer.send_and_wait(self.topic, value, key=key.encode())
        except (KafkaError, TimeoutError) as exc:
            if self._failing_since is None:
                self._failing_since = time.monotonic()
            raise SinkUnavailable(f"Kafka did not acknowledge: {type(exc).__name__}") from None
        self._failing_since = None
        self.written += 1


def callback_record(event: CallbackEvent) -> tuple[str, dict[str, Any]]:
    """The key and raw record of an HTTP callback."""
    fields = dict(event.fields)
    record: dict[str, Any] = {
        "kind": event.kind,
        "transport": "http",
        "site": event.site,
        "received_at": int(event.received_at * 1000),
        "provider_message_id": event.message_id,
        "fields": fields,
    }
    if event.kind == "DR":
        record["message_id_key"] = event.message_id
        record["state"] = int(fields["message_state"])
        record["error_code"] = fields.get("result_code") or None
        return f"http:{event.message_id}", record
    record["sender"] = fields.get("phone_number")
    record["recipient"] = fields.get("shortcode")
    record["body"] = fields.get("message", "").encode("utf-8")
    record["data_coding"] = 8  # a callback's text is Unicode already
    return f"http-mo:{event.message_id}", record


class CallbackIngest:
    """The callback receiver's sink: one raw record per accepted callback."""

    def __init__(self, writer: RawInboundWriter) -> None:
        self._writer = writer

    async def accept(self, event: CallbackEvent) -> None:
        key, record = callback_record(event)
        await self._writer.write(key, record)

    def ready(self) -> bool:
        return self._writer.ready()


def smpp_record(
    pdu: p.DeliverSm | p.DataSm, site: str, smsc: SmscConfig, bind: str
) -> tuple[str, dict[str, Any]]:
    """The key and raw record of an inbound deliver_sm / data_sm."""
    base: dict[str, Any] = {
        "transport": "smpp",
        "site": site,
        "smsc": smsc.name,
        "bind": bind,
        "received_at": now_ms(),
        "sender": pdu.source_addr,
        "recipient": pdu.destination_addr,
        "data_coding": pdu.data_coding,
        "body": pdu.payload,
    }
    if is_receipt(pdu):
        receipt = parse_receipt(pdu)
        raw_id = receipt.message_id or ""
        key = receipt_id_key(
            raw_id,
            smsc.message_id_form,
            strip_zeros=smsc.message_id_strip_zeros,
            ignore_case=smsc.message_id_ignore_case,
        )
        done = receipt.done_date
        return f"smpp:{key}", base | {
            "kind": "DR",
            "provider_message_id": raw_id or None,
            "message_id_key": key,
            "state": int(receipt.state) if receipt.state is not None else None,
            "error_code": receipt.error_code,
            "done_at": int(done.timestamp() * 1000) if done else None,
            "fields": dict(receipt.fields)
            | ({"problems": "; ".join(receipt.problems)} if receipt.problems else {}),
        }
    mo = parse_mo(pdu)
    record = base | {
        "kind": "MO",
        "body": mo.text.raw,  # the user data without its UDH
        "fields": {"problem": mo.problem} if mo.problem else {},
    }
    if mo.concatenation is not None:
        c = mo.concatenation
        record |= {"concat_ref": c.reference, "concat_total": c.total, "concat_seq": c.seq}
        return f"mo:{pdu.source_addr}:{pdu.destination_addr}:{c.bits}:{c.reference}", record
    digest = hashlib.sha256(pdu.payload).hexdigest()[:16]
    return f"mo:{pdu.source_addr}:{pdu.destination_addr}:{digest}", record
