"""The version table: what differs between the five 3x-ui releases the simulator
reproduces, each field with the ``tag:path:line`` of the panel's source it comes from.

Handlers branch on these fields, never on version strings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Final

from .messages import MSG_LOGIN_OK, MSG_OBTAIN

# Go types of model.Client's JSON keys, as the v3 client API binds them (ShouldBindJSON).
# v3.1.0 database/model/model.go:299-317
_CLIENT_TYPES_310: Final = {
    "id": "string",
    "security": "string",
    "password": "string",
    "flow": "string",
    "reverse": "reverse",
    "auth": "string",
    "email": "string",
    "limitIp": "int",
    "totalGB": "int64",
    "expiryTime": "int64",
    "enable": "bool",
    "tgId": "int64",
    "subId": "string",
    "comment": "string",
    "reset": "int",
    "created_at": "int64",
    "updated_at": "int64",
}
# v3.4.2 internal/database/model/model.go:594-618: WireGuard keys and group
_CLIENT_TYPES_342: Final = {
    **_CLIENT_TYPES_310,
    "privateKey": "string",
    "publicKey": "string",
    "allowedIPs": "[]string",
    "preSharedKey": "string",
    "keepAlive": "int",
    "group": "string",
}
# v3.6.0 internal/database/model/model.go:859-885: MTProto secret and adTag
_CLIENT_TYPES_360: Final = {**_CLIENT_TYPES_342, "secret": "string", "adTag": "string"}


@dataclass(frozen=True)
class PanelVersion:
    """What differs between the releases the simulator reproduces (see VERSIONS)."""

    name: str
    api: str  # "legacy" (inbounds/addClient …) or "v3" (clients/* + the clients table)
    # CSRF middleware, Bearer API tokens, POST logout, bare 401/404 when unauthenticated:
    # v3.0.2 web/controller/api.go:33-62, web/middleware/security.go:41-66, index.go:44-45
    csrf: bool
    # v3.0.2 web/controller/login_limiter.go (absent in v2.8.3: no limiter anywhere)
    login_limiter: bool
    # v2.8.3 web/service/tgbot.go:2599-2628 sends "Password==…"; v3.0.2 tgbot.go:109-115
    # LoginAttempt{Username, IP, Time, Status, Reason} has no password
    alert_has_password: bool
    login_ok_msg: str  # translate.en_US.toml:110 / en-US.json:114 vs v3.1.0 en-US.json:118
    # Inbound.allTime and ClientTraffic.allTime: v2.8.3 database/model/model.go:40,
    # xray/client_traffic.go:14; v3.0.2 model.go:50; gone in v3.1.0 model.go
    all_time: bool
    # inbounds/list fills clientStats uuid/subId and tops up rows owned by a sibling
    # inbound: v3.0.2 web/service/inbound.go:48-133 enrichClientStats (v2.8.3 :31-39 not)
    list_enriches: bool
    # inbounds/get/{id} preloads ClientStats: only from v3.2.5 GetInboundDetail
    # (v3.4.2 internal/web/service/inbound.go:922-932); v2.8.3 inbound.go:331-339,
    # v3.0.2 :460-468 and v3.1.0 :657-665 use First() with no Preload -> null
    get_preloads_stats: bool
    # v2.8.3 web/web.go:267 also mounts the server controller on the bare base path with
    # no auth: GET {basePath}status answers anyone (removed in adf324260, v2.8.4)
    public_status: bool = False
    # -- the panel's own traffic job (jobs.py): XrayTrafficJob every N seconds, added 5 s
    # after start: v2.8.3 web/web.go:295-297 "@every 10s"; v3.0.2 web/web.go:284-285,
    # v3.1.0 :279-280, v3.4.2 internal/web/web.go:289,325-326, v3.6.0 :288,320-321 "@every 5s"
    traffic_job_seconds: int = 5
    # what disableInvalidClients writes besides client_traffics.enable: "traffic" nothing
    # else (v2.8.3 web/service/inbound.go:1219-1262); "siblings" the settings entries of
    # the row's inbound and of same-subId siblings: enable false, totalGB and expiryTime
    # from the row (v3.0.2 inbound.go:2127-2312); "records" settings enable false on every
    # inbound the record is linked to, and clients.enable false (v3.1.0 inbound.go:
    # 1944-2104; v3.4.2 internal/web/service/inbound_disable.go:83-256; v3.6.0 :97-271)
    job_disable_writes: str = "siblings"
    # autoRenewClients renews on every inbound linked to the record (v3.4.2 internal/web/
    # service/inbound_traffic.go:286-444, v3.6.0 :307-491) instead of the traffic row's
    # own inbound (v2.8.3 inbound.go:1089-1182, v3.0.2 :1985-2091, v3.1.0 :1789-1908)
    job_renew_via_links: bool = False
    # autoRenewClients sets the settings entry's enable back to true: from v3.0.2
    # (inbound.go:2043-2045); v2.8.3 (inbound.go:1136-1137) only the traffic row's
    job_renew_enables_entry: bool = True
    # -- legacy client API
    # "any": v2.8.3 inbound.go:121-149 any existing email is a duplicate (ToLower);
    # "email+subId": v3.0.2 inbound.go:187-279 same non-empty subId may re-use the email
    legacy_dup_rule: str = "any"
    # v3.0.2 inbound.go:852-854,1323-1325 "client email is required" (v2.8.3 accepts "")
    legacy_email_required: bool = False
    # delClient of an unknown uuid: v2.8.3 inbound.go:666-687 success no-op; v3.0.2
    # inbound.go:1192-1194 "Client Not Found In Inbound For ID:"
    legacy_del_unknown_ok: bool = True
    # -- v3 client API
    client_types: Mapping[str, str] = field(default_factory=dict)
    # same email+subId re-added to an inbound that already holds it:
    # "unique_error" v3.1.0 web/service/client.go:241-248 (client_inbounds PK, rolled back);
    # "append" v3.4.2 internal/web/service/client_link.go:148-151 (links deduped, copy kept);
    # "noop" v3.6.0 internal/web/service/client_inbound_apply.go:333-357 (#5770)
    readd_same_inbound: str = "append"
    # v3.2.5+ "subId already in use": v3.4.2 internal/web/service/client_crud.go:87-97
    subid_unique_on_add: bool = False
    # v3.3.1+ forbidden / \ space and control characters: v3.4.2 client_crud.go:22-43
    email_chars_checked: bool = False
    # v3.2.5+ clientWithInboundFlow clears flow the inbound cannot carry:
    # v3.4.2 client_crud.go:108,149-154, inbound_protocol.go:32-54
    flow_filtered: bool = False
    # v3.5.0+ add re-uses the stored uuid when "id" is omitted: v3.6.0 client_crud.go:85-98
    add_reuses_uuid: bool = False
    # v3.2.0+ POST clients/bulkCreate: v3.4.2 internal/web/controller/client.go:373-389
    bulk_create: bool = False
    # v3.2.8+ update honours ?inboundIds=: v3.4.2 client_crud.go:271-287
    update_inbound_filter: bool = False
    # v3.3.1+ update keeps id when omitted: v3.4.2 client_crud.go:309-321; v3.1.0
    # web/service/client.go:587 fillProtocolDefaults mints a new uuid
    update_keeps_uuid: bool = False
    # rename collision: v3.4.2 client_crud.go:323-332 exact "email = ?" on clients; v3.1.0
    # goes through UpdateInboundClient's settings check (case-insensitive)
    rename_check_folds: bool = False
    # Duplicate subId on update: "" none (v3.1.0 client.go:552-611), "always" (v3.4.2
    # client_crud.go:340-349), "changed" (v3.6.0 client_crud.go:383-393, #6065)
    update_subid_check: str = ""
    # update of a client attached to no inbound: "timestamp" (v3.1.0 client.go:577-611),
    # "partial" = email, group, enable (v3.4.2 client_crud.go:352-423), "full" (v3.6.0
    # client_crud.go:441-468, #6053)
    detached_update: str = "full"
    # del of an unknown email: v3.1.0 "record not found"; v3.2.0+ scans settings, then
    # `client %q not found in any inbound or client record` (v3.4.2 client_crud.go:585-602)
    del_scans_settings: bool = False
    # ?keepTraffic=1 honoured: v3.6.0 client_crud.go:547 (5e1cb7693, #5970) only
    keep_traffic_param: bool = False
    # detach keeps the traffic row: v3.4.2 client_crud.go:668, v3.6.0 :790 (v3.1.0 drops
    # it when the email is on no other inbound, client.go:1914-1942)
    detach_keeps_traffic: bool = False
    # clients/get/{email}: externalLinks + usedTraffic from v3.4.2 (controller/client.go:
    # 108-139); unknown email context: "" (the missing i18n key "get") in v3.1.0/v3.4.2,
    # "Obtain" in v3.6.0 (internal/web/controller/client.go:109-148)
    get_extras: bool = False
    get_unknown_context: str = ""
    # clients/resetTraffic/{email} enables a disabled record first: from v3.3.1
    # (v3.4.2 internal/web/service/client_traffic.go:30-40; v3.3.0 web/service/client.go
    # ResetTrafficByEmail has no such step)
    reset_enables_client: bool = False
    # ClientRecord keys beyond v3.1.0's (database/model/model.go:319-338):
    # v3.4.2 model.go:620-640, v3.6.0 model.go:887-910
    record_extra_keys: tuple[str, ...] = ()

    @property
    def is_v2(self) -> bool:
        return self.name.startswith("2.")


_LEGACY_302: Final = PanelVersion(
    name="3.0.2",
    api="legacy",
    csrf=True,
    login_limiter=True,
    alert_has_password=False,
    login_ok_msg=" " + MSG_LOGIN_OK,
    all_time=True,
    list_enriches=True,
    get_preloads_stats=False,
    legacy_dup_rule="email+subId",
    legacy_email_required=True,
    legacy_del_unknown_ok=False,
)
_V3_310: Final = PanelVersion(
    name="3.1.0",
    api="v3",
    csrf=True,
    login_limiter=True,
    alert_has_password=False,
    login_ok_msg=MSG_LOGIN_OK,
    all_time=False,
    list_enriches=True,
    get_preloads_stats=False,
    client_types=_CLIENT_TYPES_310,
    readd_same_inbound="unique_error",
    rename_check_folds=True,
    detached_update="timestamp",
    job_disable_writes="records",
)
_V3_342: Final = replace(
    _V3_310,
    name="3.4.2",
    get_preloads_stats=True,
    client_types=_CLIENT_TYPES_342,
    readd_same_inbound="append",
    subid_unique_on_add=True,
    email_chars_checked=True,
    flow_filtered=True,
    bulk_create=True,
    update_inbound_filter=True,
    update_keeps_uuid=True,
    rename_check_folds=False,
    update_subid_check="always",
    detached_update="partial",
    del_scans_settings=True,
    detach_keeps_traffic=True,
    get_extras=True,
    reset_enables_client=True,
    job_renew_via_links=True,
    record_extra_keys=(
        "privateKey",
        "publicKey",
        "allowedIPs",
        "preSharedKey",
        "keepAlive",
        "group",
    ),
)
#: The releases the simulator reproduces, by version name.
VERSIONS: Final[dict[str, PanelVersion]] = {
    "2.8.3": replace(
        _LEGACY_302,
        name="2.8.3",
        csrf=False,
        login_limiter=False,
        alert_has_password=True,
        list_enriches=False,
        legacy_dup_rule="any",
        legacy_email_required=False,
        legacy_del_unknown_ok=True,
        public_status=True,
        traffic_job_seconds=10,
        job_disable_writes="traffic",
        job_renew_enables_entry=False,
    ),
    "3.0.2": _LEGACY_302,
    "3.1.0": _V3_310,
    "3.4.2": _V3_342,
    "3.6.0": replace(
        _V3_342,
        name="3.6.0",
        client_types=_CLIENT_TYPES_360,
        readd_same_inbound="noop",
        add_reuses_uuid=True,
        update_subid_check="changed",
        detached_update="full",
        keep_traffic_param=True,
        get_unknown_context=MSG_OBTAIN,
        record_extra_keys=(*_V3_342.record_extra_keys, "secret", "adTag"),
    ),
}


def resolve_version(
    version: str | None = None,
    generation: str | None = None,
    csrf: bool | None = None,
    bulk_create: bool | None = None,
) -> PanelVersion:
    """``version`` or the older shorthand: legacy→3.0.2, legacy+csrf=False→2.8.3,
    v3→3.6.0, v3+bulk_create=False→3.1.0. Contradictory combinations are refused."""
    if generation is not None and generation not in {"legacy", "v3"}:
        raise ValueError("generation must be 'legacy' or 'v3'")
    if version is None:
        generation = generation or "v3"
        if generation == "legacy":
            if bulk_create is False:
                raise ValueError("bulk_create=False is a v3 flavour (v3.1.x)")
            version = "2.8.3" if csrf is False else "3.0.2"
        else:
            if csrf is False:
                raise ValueError("every v3.1+ panel has CSRF; csrf=False is a legacy flavour")
            version = "3.1.0" if bulk_create is False else "3.6.0"
    spec = VERSIONS.get(str(version).lstrip("v"))
    if spec is None:
        raise ValueError(f"version must be one of {', '.join(VERSIONS)}")
    if generation is not None and generation != spec.api:
        raise ValueError(f"version {spec.name} is not generation {generation!r}")
    if csrf is not None and csrf != spec.csrf:
        raise ValueError(f"version {spec.name} has csrf={spec.csrf}")
    if bulk_create is not None and spec.api == "v3" and bulk_create != spec.bulk_create:
        raise ValueError(f"version {spec.name} has bulk_create={spec.bulk_create}")
    return spec
