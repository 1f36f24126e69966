"""The payment providers' signature formulas, for tests and benchmarks that play a provider.

Written straight from the providers' documented formulas (docs/payments.md, "Robokassa:
Result URL" and "FreeKassa: notification"), never from ``billing.providers``, so a test
that signs with these checks the production code against an independent implementation.
Checked against the reference test vectors in ``devtools/tests/test_payment_signing.py``.
Plain Python (no Django): the benchmarks import it outside pytest.

Hex digests come back lower-case; Robokassa sends its signatures upper-case (callers do
``.upper()``), FreeKassa lower-case.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping


def _hexdigest(algorithm: str, text: str) -> str:
    return hashlib.new(algorithm, text.encode("utf-8")).hexdigest()


def robokassa_signature(
    *,
    out_sum: str,
    inv_id: int | str,
    password: str,
    shp: Mapping[str, str] | None = None,
    login: str = "",
    receipt: str = "",
    algorithm: str = "md5",
) -> str:
    """``hash([login:]out_sum:inv_id[:receipt]:password[:Shp_key=value...])``, Shp pairs
    sorted, values exactly as sent (``out_sum`` is a string: ``299`` and ``299.00`` sign
    differently).

    With ``login`` (and Password #1) it is the payment link's signature; without, Password #2
    gives the ResultURL notification's and Password #1 the SuccessURL redirect's.
    ``inv_id=""`` keeps the empty slot of a link without an invoice number.
    """
    pairs = sorted(f"{key}={value}" for key, value in (shp or {}).items())
    parts = [login] if login else []
    parts += [out_sum, str(inv_id)]
    if receipt:
        parts.append(receipt)
    return _hexdigest(algorithm, ":".join([*parts, password, *pairs]))


def freekassa_signature(*, merchant_id: str, amount: str, secret: str, order_id: int | str) -> str:
    """A notification's ``SIGN``: ``md5(MERCHANT_ID:AMOUNT:secret_word_2:MERCHANT_ORDER_ID)``,
    ``amount`` exactly as sent."""
    return _hexdigest("md5", f"{merchant_id}:{amount}:{secret}:{order_id}")


def freekassa_form_signature(
    *, merchant_id: str, amount: str, secret: str, currency: str, order_id: int | str
) -> str:
    """The payment form's ``s``: ``md5(m:oa:secret_word_1:currency:o)``."""
    return _hexdigest("md5", f"{merchant_id}:{amount}:{secret}:{currency}:{order_id}")
