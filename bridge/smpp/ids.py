"""Message-id normalisation: one canonical key for the id in submit_sm_resp and in DRs.

SMSCs write the id of a message differently in its receipts: hex in the response and
decimal in the DR (jsmpp does this), or the other way round, leading zeros, another case.
Each side is read in the base the SMSC's setting says it uses, so both give the same key:

- ``as_is``: the id as written (trimmed; leading zeros and case ignored by default);
- ``hex_to_dec``: the response's id is hex, the DR's is its decimal value;
- ``dec_to_hex``: the response's id is decimal, the DR's is its hex value.

With a conversion the key is the decimal number. An id that does not parse in the base
expected is kept as written, so a misconfigured SMSC degrades to ``as_is``, never raises.
"""

from __future__ import annotations

from bridge.config.settings import MessageIdForm


def submit_id_key(
    raw: str, form: MessageIdForm, *, strip_zeros: bool = True, ignore_case: bool = True
) -> str:
    """The key of the id an SMSC returned in submit_sm_resp."""
    base = {MessageIdForm.HEX_TO_DEC: 16, MessageIdForm.DEC_TO_HEX: 10}.get(form)
    return _key(raw, base, strip_zeros, ignore_case)


def receipt_id_key(
    raw: str, form: MessageIdForm, *, strip_zeros: bool = True, ignore_case: bool = True
) -> str:
    """The key of the id the same SMSC writes in a delivery receipt."""
    base = {MessageIdForm.HEX_TO_DEC: 10, MessageIdForm.DEC_TO_HEX: 16}.get(form)
    return _key(raw, base, strip_zeros, ignore_case)


def _key(raw: str, base: int | None, strip_zeros: bool, ignore_case: bool) -> str:
    value = raw.strip().rstrip("\x00")
    if base is not None and value:
        try:
            return str(int(value, base))
        except ValueError:
            pass
    if ignore_case:
        value = value.lower()
    if strip_zeros and value:
        value = value.lstrip("0") or "0"
    return value
