"""Text and SMS alphabets: GSM 03.38, Latin-1, UCS-2 out; every listed data_coding in.

Over SMPP, GSM 03.38 text travels unpacked: one septet per octet (packing septets into
7 bits is the radio interface's business, not the SMSC link's, so no packed-septet codec
is needed here). An extension-table character is two septets (escape 0x1B, then its
code) and is never split across parts. UCS-2 is UTF-16BE: a character outside the BMP is
a surrogate pair, two code units, never split either.

Outbound: ``encode_text`` picks GSM when every character is in the basic or extension
table, else UCS-2 (what handsets do), or uses the coding forced for the request.

Inbound: ``decode_text`` never raises and never drops anything: a body it cannot read
comes back as ``DecodedText(text=None, raw=..., decode_error=...)``.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = {
    "\x0c": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F,
    "[": 0x3C, "~": 0x3D, "]": 0x3E, "|": 0x40, "€": 0x65,
}  # fmt: skip
ESCAPE = 0x1B

assert len(GSM_BASIC) == 128
_ENCODE_BASIC = {ch: i for i, ch in enumerate(GSM_BASIC) if i != ESCAPE}
_DECODE_EXTENSION = {code: ch for ch, code in GSM_EXTENSION.items()}
GSM_CHARACTERS = frozenset(_ENCODE_BASIC) | frozenset(GSM_EXTENSION)
# str.translate tables: text -> septets as a latin-1 str, and back (no escapes).
_TO_SEPTETS = {ord(ch): chr(code) for ch, code in _ENCODE_BASIC.items()} | {
    ord(ch): f"\x1b{code:c}" for ch, code in GSM_EXTENSION.items()
}
_FROM_SEPTETS = {i: ch for i, ch in enumerate(GSM_BASIC)}

Errors = Literal["strict", "replace"]


class DataCoding(IntEnum):
    """The data_coding values the bridge writes."""

    GSM = 0x00  # SMSC default alphabet: GSM 03.38 on the aggregator
    LATIN1 = 0x03
    BINARY = 0x04
    UCS2 = 0x08


class TextEncodeError(ValueError):
    """The text has a character the forced coding cannot carry."""


def is_gsm(text: str) -> bool:
    return GSM_CHARACTERS.issuperset(text)


def gsm_septet_count(text: str) -> int | None:
    """Septets the text takes (an extension character counts two), None if not GSM."""
    if not GSM_CHARACTERS.issuperset(text):
        return None
    return len(text) + sum(map(text.count, GSM_EXTENSION))


def gsm_septets(text: str) -> list[int] | None:
    """The unpacked septets of ``text``, or None if a character is not in GSM 03.38."""
    return list(encode_gsm(text)) if is_gsm(text) else None


def encode_gsm(text: str, errors: Errors = "strict") -> bytes:
    """Unpacked septets. ``replace`` writes "?" for a character outside GSM 03.38."""
    if not GSM_CHARACTERS.issuperset(text):
        if errors == "strict":
            bad = next(ch for ch in text if ch not in GSM_CHARACTERS)
            raise TextEncodeError(f"{bad!r} (U+{ord(bad):04X}) is not in GSM 03.38")
        text = "".join(ch if ch in GSM_CHARACTERS else "?" for ch in text)
    return text.translate(_TO_SEPTETS).encode("latin-1")


def decode_gsm(data: bytes) -> str:
    """Unpacked septets -> text. Raises ValueError on an octet above 0x7F."""
    if data and max(data) > 0x7F:
        bad = next(octet for octet in data if octet > 0x7F)
        raise ValueError(f"octet 0x{bad:02X} is not a GSM septet")
    if ESCAPE not in data:
        return data.decode("latin-1").translate(_FROM_SEPTETS)
    out: list[str] = []
    escaped = False
    for octet in data:
        if escaped:
            # An unknown escape shows the basic character (3GPP 23.038 6.2.1.1).
            out.append(_DECODE_EXTENSION.get(octet, GSM_BASIC[octet]))
            escaped = False
        elif octet == ESCAPE:
            escaped = True
        else:
            out.append(GSM_BASIC[octet])
    # A trailing lone escape is dropped: a part cut inside an escape pair is only whole
    # again when the parts' raw septets are joined before decoding.
    return "".join(out)


def encode_ucs2(text: str) -> bytes:
    # utf-16-be writes surrogate pairs for characters outside the BMP; a lone surrogate in
    # the str raises (UnicodeEncodeError, a ValueError).
    return text.encode("utf-16-be")


def choose_coding(text: str) -> DataCoding:
    """GSM when every character has a septet, else UCS-2 (what handsets do)."""
    return DataCoding.GSM if is_gsm(text) else DataCoding.UCS2


def encode_text(
    text: str, coding: DataCoding | None = None, errors: Errors = "strict"
) -> tuple[DataCoding, bytes]:
    """(coding, short_message octets): ``coding`` None chooses; a forced coding that cannot
    carry a character raises ``TextEncodeError``, or writes "?" with ``errors="replace"``."""
    coding = choose_coding(text) if coding is None else coding
    if coding is DataCoding.GSM:
        return coding, encode_gsm(text, errors)
    try:
        if coding is DataCoding.LATIN1:
            return coding, text.encode("latin-1", errors)
        if coding is DataCoding.UCS2:
            return coding, text.encode("utf-16-be", errors)
    except UnicodeEncodeError as exc:
        raise TextEncodeError(f"cannot encode text as {coding.name}: {exc}") from None
    raise TextEncodeError(f"cannot encode text as {coding.name}")


# --- inbound -----------------------------------------------------------------------------

# data_coding -> Python codec, for the values the aggregator lists. 0 and 2 are GSM 03.38
# (0 is "SMSC default alphabet", which the aggregator documents as GSM; 2 is listed as
# "GSM 03.38" although SMPP 3.4 calls it "8-bit binary": the aggregator's word wins).
_CODECS: dict[int, str] = {
    0x01: "ascii",
    0x03: "latin-1",
    0x05: "shift_jis",  # JIS X 0201 is Shift_JIS's one-octet half; a superset reads more
    0x06: "iso8859-5",
    0x07: "iso8859-8",
    0x08: "utf-16-be",
    0x0A: "iso2022_jp_2",  # a superset of ISO-2022-JP
    0x0D: "euc_jis_2004",  # JIS X 0212 as EUC (SS3 0x8F); CPython reads all of 0212 here
    0x0E: "euc_kr",
}
GSM, EIGHT_BIT, UCS2 = 0x00, 0x04, 0x08


@dataclass(frozen=True, slots=True)
class DecodedText:
    text: str | None  # None: could not be decoded; ``raw`` has the octets
    raw: bytes
    data_coding: int
    decode_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.text is not None


def alphabet_of(data_coding: int) -> int | None:
    """Reduce 3GPP 23.038 coding groups to their alphabet: 0x00 GSM, 0x04 8-bit, 0x08 UCS-2;
    None for the SMPP-own values 0x00-0x0F, compressed text and reserved groups."""
    group = data_coding >> 4
    if group in (0x1, 0x4, 0x5):
        # General data coding, uncompressed (0x4-0x5: marked for automatic deletion):
        # bits 3-2 are the alphabet, 11 reserved.
        return (GSM, EIGHT_BIT, UCS2, None)[(data_coding >> 2) & 0x03]
    if group in (0xC, 0xD):  # message waiting indication, discard / store: GSM
        return GSM
    if group == 0xE:  # message waiting indication, store: UCS-2
        return UCS2
    if group == 0xF:  # data coding / message class: bit 2 chooses 8-bit
        return EIGHT_BIT if data_coding & 0x04 else GSM
    return None


def _decode(data: bytes, data_coding: int) -> DecodedText:
    if data_coding in (0x00, 0x02):
        return DecodedText(decode_gsm(data), data, data_coding)
    name = _CODECS.get(data_coding)
    if name is not None:
        if data_coding == 0x0D and b"\x1b" in data:
            name = "iso2022_jp_2"  # JIS X 0212 written with ISO-2022 escapes
        return DecodedText(codecs.decode(data, name), data, data_coding)
    if data_coding == 0x04:
        return DecodedText(None, data, data_coding, "8-bit binary data")
    group = data_coding >> 4
    if group in (0x2, 0x3, 0x6, 0x7):
        return DecodedText(None, data, data_coding, "compressed text is not supported")
    alphabet = alphabet_of(data_coding)
    if alphabet == GSM:
        return DecodedText(decode_gsm(data), data, data_coding)
    if alphabet == UCS2:
        return DecodedText(data.decode("utf-16-be"), data, data_coding)
    if alphabet == EIGHT_BIT:
        return DecodedText(None, data, data_coding, "8-bit binary data")
    return DecodedText(None, data, data_coding, f"unknown data_coding 0x{data_coding:02X}")


def decode_text(data: bytes, data_coding: int) -> DecodedText:
    """The text of an inbound body. Never raises: a body that cannot be decoded is kept as
    bytes and flagged; binary data (8-bit) is kept as bytes too."""
    try:
        return _decode(bytes(data), data_coding)
    except (ValueError, LookupError) as exc:  # UnicodeDecodeError is a ValueError
        return DecodedText(None, bytes(data), data_coding, f"not valid {_name(data_coding)}: {exc}")


def _name(data_coding: int) -> str:
    alphabet = alphabet_of(data_coding)
    if data_coding in (0x00, 0x02) or alphabet == GSM:
        return "GSM 03.38"
    if data_coding == UCS2 or alphabet == UCS2:
        return "UCS-2"
    return _CODECS.get(data_coding, f"data_coding 0x{data_coding:02X}")
