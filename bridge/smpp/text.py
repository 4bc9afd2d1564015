"""Text and SMS alphabets: GSM 03.38, Latin-1, UCS-2; counting parts as handsets do.

Over SMPP, GSM 03.38 text travels unpacked: one septet per octet (packing into 7 bits is
the radio interface's business, not the SMSC link's). An extension-table character is two
septets (escape 0x1B, then its code) and is never split across parts. UCS-2 is UTF-16BE;
a character outside the BMP is a surrogate pair that is never split either.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from enum import IntEnum

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


class DataCoding(IntEnum):
    """The data_coding values the bridge writes."""

    GSM = 0x00  # SMSC default alphabet: GSM 03.38 on the aggregator
    LATIN1 = 0x03
    BINARY = 0x04
    UCS2 = 0x08


def gsm_septets(text: str) -> list[int] | None:
    """The unpacked septets of ``text``, or None if a character is not in GSM 03.38."""
    out: list[int] = []
    for ch in text:
        code = _ENCODE_BASIC.get(ch)
        if code is not None:
            out.append(code)
            continue
        ext = GSM_EXTENSION.get(ch)
        if ext is None:
            return None
        out += (ESCAPE, ext)
    return out


def is_gsm(text: str) -> bool:
    return gsm_septets(text) is not None


def encode_gsm(text: str) -> bytes:
    septets = gsm_septets(text)
    if septets is None:
        raise ValueError("text has characters outside GSM 03.38")
    return bytes(septets)


def decode_gsm(data: bytes) -> str:
    """Unpacked septets -> text. Raises ValueError on an octet above 0x7F."""
    out: list[str] = []
    escaped = False
    for octet in data:
        if octet > 0x7F:
            raise ValueError(f"octet 0x{octet:02X} is not a GSM septet")
        if escaped:
            # An unknown escape shows the basic character (3GPP 23.038 6.2.1.1).
            out.append(_DECODE_EXTENSION.get(octet, GSM_BASIC[octet]))
            escaped = False
        elif octet == ESCAPE:
            escaped = True
        else:
            out.append(GSM_BASIC[octet])
    return "".join(out)


def encode_ucs2(text: str) -> bytes:
    return text.encode("utf-16-be")


def choose_coding(text: str) -> DataCoding:
    """GSM when every character has a septet, else UCS-2 (what handsets do)."""
    return DataCoding.GSM if is_gsm(text) else DataCoding.UCS2


def encode_text(text: str, coding: DataCoding | None = None) -> tuple[DataCoding, bytes]:
    coding = choose_coding(text) if coding is None else coding
    if coding is DataCoding.GSM:
        return coding, encode_gsm(text)
    if coding is DataCoding.LATIN1:
        return coding, text.encode("latin-1")
    if coding is DataCoding.UCS2:
        return coding, encode_ucs2(text)
    raise ValueError(f"cannot encode text as {coding.name}")


# --- inbound -----------------------------------------------------------------------------

# data_coding -> Python codec, for the values the aggregator lists.
_CODECS: dict[int, str] = {
    0x01: "ascii",
    0x03: "latin-1",
    0x05: "shift_jis",  # JIS X 0201 is the one-byte half of Shift_JIS
    0x06: "iso8859-5",
    0x07: "iso8859-8",
    0x08: "utf-16-be",
    0x0A: "iso2022_jp",
    0x0D: "euc_jis_2004",  # JIS X 0212 text arrives EUC-encoded
    0x0E: "euc_kr",
}


@dataclass(frozen=True, slots=True)
class DecodedText:
    text: str | None
    raw: bytes
    data_coding: int
    decode_error: str | None = None


def alphabet_of(data_coding: int) -> int | None:
    """Reduce message-class variants to the alphabet: 0x00 GSM, 0x04 8-bit, 0x08 UCS-2."""
    if 0xF0 <= data_coding <= 0xFF:  # message class coding: bit 2 chooses 8-bit
        return 0x04 if data_coding & 0x04 else 0x00
    if 0x10 <= data_coding <= 0x1F:  # general data coding with a class: bits 3-2
        return (0x00, 0x04, 0x08, None)[(data_coding >> 2) & 0x03]
    return None


def decode_text(data: bytes, data_coding: int) -> DecodedText:
    """Never raises: a body that cannot be decoded is kept as bytes and flagged."""
    try:
        if data_coding in (0x00, 0x02):
            # 0: the SMSC default alphabet; 2 is listed by the aggregator as GSM 03.38 too.
            return DecodedText(decode_gsm(data), data, data_coding)
        name = _CODECS.get(data_coding)
        if name is not None:
            return DecodedText(codecs.decode(data, name), data, data_coding)
        alphabet = alphabet_of(data_coding)
        if alphabet == 0x00:
            return DecodedText(decode_gsm(data), data, data_coding)
        if alphabet == 0x08:
            return DecodedText(data.decode("utf-16-be"), data, data_coding)
        if alphabet == 0x04 or data_coding == 0x04:
            return DecodedText(None, data, data_coding, "binary data (8-bit)")
        return DecodedText(None, data, data_coding, f"unknown data_coding 0x{data_coding:02X}")
    except (ValueError, UnicodeDecodeError) as exc:
        return DecodedText(None, data, data_coding, f"cannot decode as 0x{data_coding:02X}: {exc}")
