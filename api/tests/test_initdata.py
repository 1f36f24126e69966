"""api.initdata against Telegram's formula as an independent signer writes it
(api/tests/miniapp_helpers.py): fuzzed input is refused with InitDataError and nothing else,
and a signed initData stops passing when any byte of any field changes."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.initdata import InitDataError, init_data_parse
from api.tests.miniapp_helpers import signed_fields

TOKEN = "123456:TEST-TOKEN"
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = time.time()
KEYS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12).filter(
    lambda key: key not in {"hash", "user", "auth_date"}
)


def parse(raw: str):
    return init_data_parse(raw, bot_token=TOKEN, max_age=86400, now=NOW)


@FUZZ
@given(st.text(max_size=600))
def test_anything_unsigned_is_refused_with_init_data_error(raw):
    with pytest.raises(InitDataError):
        parse(raw)


@FUZZ
@given(
    extra=st.dictionaries(KEYS, st.text(max_size=40), max_size=4),
    name=st.text(max_size=30),
    position=st.integers(min_value=0),
)
def test_signed_data_passes_and_any_change_is_refused(extra, name, position):
    user = {"id": 4242, "first_name": name, "language_code": "ru"}
    fields = {
        "user": json.dumps(user, ensure_ascii=False),
        "auth_date": str(int(NOW) - 5),
        **extra,
    }
    signed = signed_fields(fields, bot_token=TOKEN)
    data = parse(urlencode(signed))
    assert (data.user.id, data.user.first_name, data.auth_date) == (4242, name, int(NOW) - 5)

    # Change one character of one field's value (the hash's included): refused.
    key = sorted(signed)[position % len(signed)]
    value = signed[key]
    index = position % (len(value) or 1)
    changed = value[:index] + ("0" if value[index : index + 1] != "0" else "1") + value[index + 1 :]
    with pytest.raises(InitDataError):
        parse(urlencode({**signed, key: changed}))
