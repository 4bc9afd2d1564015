"""Message-id normalisation: one canonical key for the id in submit_sm_resp and in DRs.

SMSCs write the id of a message differently in its receipts: hex in the response and
decimal in the DR (jsmpp does this), or the other way round, leading zeros, another case.
Each side is read in the base the SMSC's setting (``message_id_form``) says it uses, so
both sides give the same key:

- ``as_is``: the id as written, trimmed; leading zeros and case ignored unless the SMSC's
  ``message_id_strip_zeros`` / ``message_id_ignore_case`` say otherwise;
- ``hex_to_dec``: the response's id is hex, the DR's is its decimal value;
- ``dec_to_hex``: the response's id is decimal, the DR's is its hex value.

With a conversion the key is the number in decimal, without leading zeros. The side must
be given: "2591" is a different number in hex and in decimal, so no side-blind function
can map both writings of one id to one key. An id that is not a number in the base
expected is kept as written (then as ``as_is``): a misconfigured SMSC degrades, never raises.
"""

from __future__ import annotations

from enum import StrEnum

from bridge.config.settings import MessageIdForm

_DIGITS = {10: frozenset("0123456789"), 16: frozenset("0123456789abcdefABCDEF")}


class IdSide(StrEnum):
    SUBMIT = "submit"  # the message_id of submit_sm_resp
    RECEIPT = "receipt"  # receipted_message_id, or the id: of a receipt text


_BASES: dict[tuple[MessageIdForm, IdSide], int] = {
    (MessageIdForm.HEX_TO_DEC, IdSide.SUBMIT): 16,
    (MessageIdForm.HEX_TO_DEC, IdSide.RECEIPT): 10,
    (MessageIdForm.DEC_TO_HEX, IdSide.SUBMIT): 10,
    (MessageIdForm.DEC_TO_HEX, IdSide.RECEIPT): 16,
}


def normalise_message_id(
    raw: str,
    form: MessageIdForm,
    side: IdSide,
    *,
    strip_zeros: bool = True,
    ignore_case: bool = True,
) -> str:
    """The correlation key of a message id, as written on ``side`` by an SMSC whose
    setting is ``form``. Equal keys: the same message."""
    value = raw.strip().rstrip("\x00")
    base = _BASES.get((form, side))
    # int() alone would also take "+1", "1_0", "0x1f" and non-ASCII digits, and refuses
    # thousands of digits (ids are at most 64 octets; a receipt text may hold anything).
    if base is not None and 0 < len(value) <= 64 and _DIGITS[base].issuperset(value):
        return str(int(value, base))
    if ignore_case:
        value = value.lower()
    if strip_zeros and value:
        value = value.lstrip("0") or "0"
    return value


def submit_id_key(
    raw: str, form: MessageIdForm, *, strip_zeros: bool = True, ignore_case: bool = True
) -> str:
    """The key of the id an SMSC returned in submit_sm_resp."""
    return normalise_message_id(
        raw, form, IdSide.SUBMIT, strip_zeros=strip_zeros, ignore_case=ignore_case
    )


def receipt_id_key(
    raw: str, form: MessageIdForm, *, strip_zeros: bool = True, ignore_case: bool = True
) -> str:
    """The key of the id the same SMSC writes in a delivery receipt."""
    return normalise_message_id(
        raw, form, IdSide.RECEIPT, strip_zeros=strip_zeros, ignore_case=ignore_case
    )
