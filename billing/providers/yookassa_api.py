"""The YooKassa API client: the only code in billing that talks HTTP to YooKassa.

Four calls of API v3 (https://yookassa.ru/developers/api), each one HTTP request with a timeout
and no retries of its own (the caller repeats with the same idempotence key):

- ``POST /v3/payments``       create a payment (``Idempotence-Key``)
- ``GET  /v3/payments/{id}``  a payment as YooKassa holds it (how a notification is confirmed)
- ``POST /v3/refunds``        refund a payment (``Idempotence-Key``)
- ``GET  /v3/refunds/{id}``   a refund as YooKassa holds it

Authentication is HTTP Basic with the shop id and the secret key
(https://yookassa.ru/en/developers/using-api/interaction-format). Every failure is a
``ProviderApiError`` with a short machine ``reason``; the secret key never appears in one.
Why ``requests`` and not the official ``yookassa`` SDK: docs/payments.md "YooKassa: API client".
"""

from __future__ import annotations

import json
import re
from typing import Any

import requests

from billing.exceptions import ProviderApiError

API_URL = "https://api.yookassa.ru/v3/"
# Seconds to connect and to wait for the answer (requests' (connect, read) pair).
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 15.0)
# YooKassa object ids are UUID-like ("2d6d597-000f-5000-9000-145f6df21d6f"). An id that goes
# into a URL path must be one: never "../", "?", "/" from a notification body.
OBJECT_ID_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,63}", re.ASCII)
# Idempotence keys: at most 64 characters (interaction-format, "Idempotency").
IDEMPOTENCE_KEY_RE = re.compile(r"[0-9A-Za-z_.:-]{1,64}", re.ASCII)
_ERROR_CODE_RE = re.compile(r"[a-z_]{1,48}", re.ASCII)


class YooKassaClient:
    """One shop's API credentials. Thread-safe: no state but the settings."""

    def __init__(
        self,
        *,
        shop_id: str,
        secret_key: str,
        api_url: str = API_URL,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        self.shop_id = shop_id
        self._secret_key = secret_key
        self.api_url = api_url if api_url.endswith("/") else f"{api_url}/"
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"<YooKassaClient shop_id={self.shop_id!r}>"

    def payment_create(self, *, body: dict[str, Any], idempotence_key: str) -> dict[str, Any]:
        return self._request("POST", "payments", body=body, idempotence_key=idempotence_key)

    def payment_get(self, *, payment_id: str) -> dict[str, Any]:
        return self._request("GET", f"payments/{object_id_check(payment_id)}")

    def refund_create(self, *, body: dict[str, Any], idempotence_key: str) -> dict[str, Any]:
        return self._request("POST", "refunds", body=body, idempotence_key=idempotence_key)

    def refund_get(self, *, refund_id: str) -> dict[str, Any]:
        return self._request("GET", f"refunds/{object_id_check(refund_id)}")

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        idempotence_key: str | None = None,
    ) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if idempotence_key is not None:
            if not IDEMPOTENCE_KEY_RE.fullmatch(idempotence_key):
                raise ValueError("idempotence key must be 1-64 safe characters")
            headers["Idempotence-Key"] = idempotence_key
        extra = {"method": method, "path": path}
        try:
            response = requests.request(
                method,
                f"{self.api_url}{path}",
                json=body,
                headers=headers,
                auth=(self.shop_id, self._secret_key),
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise ProviderApiError(
                "YooKassa did not answer in time.", reason="api_timeout", extra=extra
            ) from exc
        except requests.RequestException as exc:
            raise ProviderApiError(
                "YooKassa could not be reached.", reason="api_unreachable", extra=extra
            ) from exc
        data = _json_object(response)
        extra["status"] = response.status_code
        if response.status_code == 200 and data is not None:
            return data
        if response.status_code == 202:
            # "Accepted, not processed yet": the same request with the same key is to be
            # repeated later (interaction-format, "Idempotency").
            raise ProviderApiError(
                "YooKassa is still processing the request.", reason="api_in_progress", extra=extra
            )
        code = str((data or {}).get("code", ""))
        extra.update(
            code=code[:48],
            description=str((data or {}).get("description", ""))[:300],
            parameter=str((data or {}).get("parameter", ""))[:64],
        )
        reason = f"api_{code}" if _ERROR_CODE_RE.fullmatch(code) else "api_bad_response"
        raise ProviderApiError(
            f"YooKassa answered HTTP {response.status_code}.", reason=reason, extra=extra
        )


def object_id_check(value: object) -> str:
    """``value`` if it is a YooKassa object id, else ``ValueError``."""
    if not isinstance(value, str) or not OBJECT_ID_RE.fullmatch(value):
        raise ValueError("not a YooKassa object id")
    return value


def _json_object(response: requests.Response) -> dict[str, Any] | None:
    try:
        data = json.loads(response.content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None
