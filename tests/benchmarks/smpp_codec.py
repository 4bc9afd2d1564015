"""Micro-benchmark of the SMPP codec: PDUs per second, one core, pure Python.

Not a test (pytest does not collect it). Run: ``.venv/bin/python tests/benchmarks/smpp_codec.py``
(``--seconds`` per measurement, default 1). The figures to compare with the ~6.7k
submit_sm/s Kannel reached over one bind: per submit_sm round trip our side encodes one
submit_sm and decodes one submit_sm_resp; per DR it decodes one deliver_sm and encodes one
deliver_sm_resp.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from bridge.config.settings import LongMessageMethod
from bridge.smpp import pdu as p
from bridge.smpp.codec import Framer, decode, encode
from bridge.smpp.constants import Tag
from bridge.smpp.receipts import parse_receipt
from bridge.smpp.segmentation import count_parts, segment, submits

SUBMIT = p.SubmitSm(
    sequence_number=123456,
    source_addr="ACME",
    source_addr_ton=5,
    destination_addr="447700900123",
    dest_addr_ton=1,
    dest_addr_npi=1,
    registered_delivery=1,
    short_message=b"Your verification code is 493021. It expires in 10 minutes.",
)
SUBMIT_RESP = encode(p.SubmitSmResp(sequence_number=123456, message_id="5a3b2c1d0e"))
RECEIPT = encode(
    p.DeliverSm(
        sequence_number=777,
        esm_class=0x04,
        source_addr="447700900123",
        source_addr_ton=1,
        source_addr_npi=1,
        destination_addr="ACME",
        short_message=(
            b"id:5a3b2c1d0e sub:001 dlvrd:001 submit date:2511251030 "
            b"done date:2511251031 stat:DELIVRD err:000 text:Your verification"
        ),
        tlvs=[
            (Tag.RECEIPTED_MESSAGE_ID, b"5a3b2c1d0e\x00"),
            (Tag.MESSAGE_STATE, b"\x02"),
        ],
    )
)
MO = encode(
    p.DeliverSm(
        sequence_number=778,
        source_addr="447700900123",
        destination_addr="60006",
        short_message=b"STOP",
    )
)


def rate(work: Callable[[], object], seconds: float, per_call: int = 1) -> float:
    calls, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(1000):
            work()
        calls += 1000
        now = time.perf_counter()
        if now >= deadline:
            return calls * per_call / (now - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    seconds = parser.parse_args().seconds

    stream = SUBMIT_RESP * 100  # what one 64 KiB read of responses looks like, roughly
    deliver_resp = p.DeliverSmResp(sequence_number=777)
    receipt = decode(RECEIPT)
    assert isinstance(receipt, p.DeliverSm)
    long_text = "Ж" * 300

    def framed() -> None:
        Framer().feed(stream)

    cases: list[tuple[str, Callable[[], object], int]] = [
        ("encode submit_sm", lambda: encode(SUBMIT), 1),
        ("decode submit_sm_resp", lambda: decode(SUBMIT_RESP), 1),
        ("frame+decode submit_sm_resp (100 per read)", framed, 100),
        ("decode deliver_sm (DR, 2 TLVs)", lambda: decode(RECEIPT), 1),
        ("decode deliver_sm (MO)", lambda: decode(MO), 1),
        ("encode deliver_sm_resp", lambda: encode(deliver_resp), 1),
        ("parse_receipt (TLVs + text)", lambda: parse_receipt(receipt), 1),
        (
            "segment+submits 300-char UCS-2 (5 parts)",
            lambda: submits(SUBMIT, segment(long_text, LongMessageMethod.UDH8), 1),
            1,
        ),
        ("count_parts 160-char GSM", lambda: count_parts("a" * 160), 1),
    ]
    width = max(len(name) for name, _, _ in cases)
    for name, work, per_call in cases:
        print(f"{name:<{width}}  {rate(work, seconds, per_call):>12,.0f} /s")
    round_trip = 1 / (1 / rate(lambda: encode(SUBMIT), seconds) + 1 / rate(framed, seconds, 100))
    print(f"{'submit_sm round trip, codec share only':<{width}}  {round_trip:>12,.0f} /s")


if __name__ == "__main__":
    main()
