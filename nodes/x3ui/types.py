"""Dataclasses in and out of the 3x-ui client, and the tolerant parsing behind them.

Real panels disagree on shapes (docs/x3ui.md): ``settings`` and ``streamSettings`` are
JSON *strings* up to v3.0.2 and objects from v3.1; ``tgId`` is ``""`` when the v2 UI wrote it;
a v3.1+ ``ClientRecord`` keeps the VLESS UUID in ``uuid`` while ``id`` is a database row
number. Everything here accepts all of those, so the client code above it never has to.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

Generation = Literal["legacy", "v3"]
#: ≤ v3.0.2: clients live in the inbound's ``settings`` (``/panel/api/inbounds/addClient`` …).
GENERATION_LEGACY: Final = "legacy"
#: ≥ v3.1.0: the email-keyed ``/panel/api/clients/*`` API.
GENERATION_V3: Final = "v3"
GENERATIONS: Final = (GENERATION_LEGACY, GENERATION_V3)

# Panel keys that PanelClient models explicitly; everything else is kept in ``extra`` so a
# legacy full-replacement update does not silently drop fields we do not know about.
_CLIENT_KEYS: Final = frozenset(
    {
        "id",
        "uuid",
        "email",
        "enable",
        "expiryTime",
        "limitIp",
        "totalGB",
        "subId",
        "tgId",
        "comment",
        "flow",
    }
)
# Keys of a v3 list row that describe the row, not the client: never send them back.
_RECORD_ONLY_KEYS: Final = frozenset({"inboundIds", "traffic", "createdAt", "updatedAt"})
# Other protocols' credentials: a v3 record carries them as "" for VLESS clients, and an
# explicit empty value must not overwrite anything on update, so empty ones are not sent.
_CREDENTIAL_KEYS: Final = frozenset({"password", "auth", "secret"})
# Keys of 3x-ui's ``model.Client`` that Go decodes into a slice. A v3.4.2+ listing writes
# ``allowedIPs`` (a WireGuard field) as ``""`` for every client, while ``update`` binds the
# body into the struct and refuses a string there ("cannot unmarshal string into Go struct
# field Client.allowedIPs of type []string"): such a value is not sent back.
_GO_LIST_KEYS: Final = frozenset({"allowedIPs"})
_ABSENT: Final = object()


def as_int(value: Any, default: int = 0) -> int:
    """Coerce a panel number that may arrive as int, float, numeric string, ``""`` or null."""
    if isinstance(value, int | float):  # bool included
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return default
        try:
            return int(float(text)) if any(c in text for c in ".eE") else int(text)
        except ValueError:
            return default
    return default


def as_bool(value: Any, default: bool = False) -> bool:
    """Coerce a panel boolean; omitted means ``False`` on 3x-ui (a legacy add stores the map
    as sent, and Go reads a missing ``enable`` as false)."""
    if isinstance(value, bool):
        return value
    if value is None:
        return default
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return default


def as_str(value: Any) -> str:
    """Coerce to str, mapping null to ``""`` (Go zero value)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def json_field(value: Any) -> dict[str, Any]:
    """Parse ``settings``/``streamSettings``/``sniffing``: a JSON string ≤ v3.0.2, an object after.

    Raises ``ValueError`` on a string that is not a JSON object, so the caller can report a
    malformed panel answer instead of carrying on with half the data.
    """
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str | bytes):
        parsed = json.loads(value)
        if parsed is None:
            return {}
        if not isinstance(parsed, dict):
            raise ValueError("expected a JSON object")
        return parsed
    raise ValueError(f"expected a JSON object or string, got {type(value).__name__}")


@dataclass(frozen=True)
class PanelClient:
    """One VLESS client on the inbound: what we send on add/update, what a listing returns.

    ``total_bytes`` is 3x-ui's ``totalGB``, which is bytes despite the name (0 = unlimited);
    ``expiry_time_ms`` is unix milliseconds (0 = never, negative = delayed start).
    ``up``/``down`` are filled only by listings. ``extra`` carries panel keys we do not
    model; it is sent back on update so a legacy full replacement keeps them.
    """

    id: str
    email: str
    enable: bool = True
    expiry_time_ms: int = 0
    limit_ip: int = 0
    total_bytes: int = 0
    sub_id: str = ""
    tg_id: int = 0
    comment: str = ""
    flow: str = ""
    up: int = 0
    down: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)
    #: The inbounds a v3.1+ client record is attached to (``None``: not reported, legacy).
    inbound_ids: tuple[int, ...] | None = field(default=None, compare=False, hash=False)

    def to_panel(self) -> dict[str, Any]:
        """The client as 3x-ui's ``model.Client`` JSON (camelCase), ``extra`` first."""
        data: dict[str, Any] = {
            k: v
            for k, v in self.extra.items()
            if k not in _CLIENT_KEYS
            and k not in _RECORD_ONLY_KEYS
            and not (k in _CREDENTIAL_KEYS and not v)
            and (k not in _GO_LIST_KEYS or isinstance(v, list))
        }
        data.update(
            {
                "id": self.id,
                "email": self.email,
                "enable": self.enable,
                "expiryTime": self.expiry_time_ms,
                "limitIp": self.limit_ip,
                "totalGB": self.total_bytes,
                "subId": self.sub_id,
                "tgId": self.tg_id,
                "comment": self.comment,
                "flow": self.flow,
            }
        )
        return data

    @classmethod
    def from_panel(
        cls, data: Mapping[str, Any], traffic: Mapping[str, Any] | None = None
    ) -> PanelClient:
        """Build from a legacy ``settings.clients`` entry or a v3.1+ ``ClientRecord``.

        A v3 record's ``id`` is an integer row number and its UUID is ``uuid``; a legacy
        entry's ``id`` is the UUID. Traffic comes from ``clientStats`` (legacy) or the
        record's ``traffic`` (v3), passed in or embedded.
        """
        raw_id = data.get("uuid")
        if not raw_id and isinstance(data.get("id"), str):
            raw_id = data["id"]
        if traffic is None and isinstance(data.get("traffic"), Mapping):
            traffic = data["traffic"]
        traffic = traffic or {}
        extra = {
            k: v for k, v in data.items() if k not in _CLIENT_KEYS and k not in _RECORD_ONLY_KEYS
        }
        raw_inbounds = data.get("inboundIds", _ABSENT)
        inbound_ids: tuple[int, ...] | None
        if raw_inbounds is _ABSENT:
            inbound_ids = None
        elif isinstance(raw_inbounds, list):
            inbound_ids = tuple(as_int(i) for i in raw_inbounds)
        else:  # null: a v3.1+ record attached to no inbound at all
            inbound_ids = ()
        return cls(
            id=as_str(raw_id),
            email=as_str(data.get("email")),
            enable=as_bool(data.get("enable")),
            expiry_time_ms=as_int(data.get("expiryTime")),
            limit_ip=as_int(data.get("limitIp")),
            total_bytes=as_int(data.get("totalGB")),
            sub_id=as_str(data.get("subId")),
            tg_id=as_int(data.get("tgId")),
            comment=as_str(data.get("comment")),
            flow=as_str(data.get("flow")),
            up=as_int(traffic.get("up")),
            down=as_int(traffic.get("down")),
            extra=extra,
            inbound_ids=inbound_ids,
        )


def _private_keys_drop(settings: dict[str, Any], stream: dict[str, Any]) -> None:
    """Remove the server's private keys from an inbound's ``settings`` and ``streamSettings``.

    Where 3x-ui keeps them (v3.6.0 ``frontend/src/schemas/protocols/security/tls.ts`` and
    ``reality.ts``): an inline TLS certificate's ``key`` lines, ``tlsSettings.echServerKeys``
    (``xray tls ech`` output, ``internal/web/service/server.go`` ``GetNewEchCert``),
    ``realitySettings.privateKey`` and ``mldsa65Seed``, and a VLESS-encryption
    ``settings.decryption`` (the server string holds the private keys matching the clients'
    ``encryption``: https://hiddify.com/core/features/protocols/vless-encryption/): only its
    first, non-secret part (the method, e.g. ``mlkem768x25519plus``) is kept, so the cache
    still says that VLESS encryption is on (3x-ui's ``vlessEncryptionEnabled`` reads
    ``decryption`` too). The certificate's public side is kept.
    """
    decryption = as_str(settings.get("decryption"))
    if decryption not in ("", "none"):
        settings["decryption"] = decryption.split(".", 1)[0]
    tls = stream.get("tlsSettings")
    if isinstance(tls, dict):
        tls.pop("echServerKeys", None)
        for certificate in tls.get("certificates") or []:
            if isinstance(certificate, dict):
                certificate.pop("key", None)
    reality = stream.get("realitySettings")
    if isinstance(reality, dict):
        reality.pop("privateKey", None)
        reality.pop("mldsa65Seed", None)


@dataclass(frozen=True)
class Inbound:
    """The inbound our keys live on, with its JSON columns parsed into dicts.

    Links are built from ``port``, ``protocol``, ``settings`` (``encryption``) and
    ``stream_settings`` (network, security, reality/tls parameters).
    """

    id: int
    port: int
    protocol: str
    remark: str = ""
    enable: bool = True
    listen: str = ""
    tag: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict, hash=False)
    stream_settings: Mapping[str, Any] = field(default_factory=dict, hash=False)
    sniffing: Mapping[str, Any] = field(default_factory=dict, hash=False)
    clients: tuple[PanelClient, ...] = ()

    @property
    def network(self) -> str:
        """Transport (``tcp``, ``ws``, ``grpc``, ``xhttp`` …); 3x-ui defaults to tcp."""
        return as_str(self.stream_settings.get("network")) or "tcp"

    @property
    def security(self) -> str:
        """``none``, ``tls`` or ``reality``."""
        return as_str(self.stream_settings.get("security")) or "none"

    def to_cache(self) -> dict[str, Any]:
        """A JSON-safe snapshot for ``Node.inbound_cache``, minus clients and secrets.

        The client list is dropped (it is large and changes constantly) and every private
        key the panel keeps is removed (``_private_keys_drop``): links only need the public
        halves, and the database should not hold a copy of the server's private keys.
        """
        settings = {k: v for k, v in self.settings.items() if k != "clients"}
        stream = json.loads(json.dumps(self.stream_settings))
        _private_keys_drop(settings, stream)
        return {
            "id": self.id,
            "port": self.port,
            "protocol": self.protocol,
            "remark": self.remark,
            "enable": self.enable,
            "listen": self.listen,
            "tag": self.tag,
            "settings": settings,
            "stream_settings": stream,
        }

    @classmethod
    def from_panel(cls, data: Mapping[str, Any]) -> Inbound:
        """Build from ``/panel/api/inbounds/get/{id}``'s ``obj`` (either generation).

        Raises ``ValueError`` when a JSON column is not valid JSON.
        """
        settings = json_field(data.get("settings"))
        stats = data.get("clientStats") or []
        traffic_by_email = {
            as_str(row.get("email")): row for row in stats if isinstance(row, Mapping)
        }
        clients = tuple(
            PanelClient.from_panel(entry, traffic_by_email.get(as_str(entry.get("email"))))
            for entry in settings.get("clients") or []
            if isinstance(entry, Mapping)
        )
        return cls(
            id=as_int(data.get("id")),
            port=as_int(data.get("port")),
            protocol=as_str(data.get("protocol")),
            remark=as_str(data.get("remark")),
            enable=as_bool(data.get("enable"), default=True),
            listen=as_str(data.get("listen")),
            tag=as_str(data.get("tag")),
            settings=settings,
            stream_settings=json_field(data.get("streamSettings")),
            sniffing=json_field(data.get("sniffing")),
            clients=clients,
        )


@dataclass(frozen=True)
class ServerStatus:
    """The part of ``/panel/api/server/status`` a health check needs; ``raw`` has the rest.

    ``obj`` is null on a panel that has not finished its first 2-second refresh; that
    yields ``xray_state == "unknown"`` rather than an error.
    """

    xray_state: str
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def xray_running(self) -> bool:
        """Whether Xray itself (not just the panel) is serving connections."""
        return self.xray_state == "running"

    @classmethod
    def from_panel(cls, data: Mapping[str, Any] | None) -> ServerStatus:
        """Build from the status ``obj``, tolerating null and missing sections."""
        if not isinstance(data, Mapping):
            return cls(xray_state="unknown")
        xray = data.get("xray") if isinstance(data.get("xray"), Mapping) else {}
        return cls(xray_state=as_str(xray.get("state")) or "unknown", raw=dict(data))
