"""Go-flavoured decoding: encoding/json's errors and gin's binding, as the panel answers
them (its Go error texts are part of what a client has to parse)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from .wire import BindError, Request


def go_error(*parts: object) -> str:
    """``common.NewError`` text: ``fmt.Sprintln`` joins with spaces and ends with ``\\n``."""
    return " ".join(str(p) for p in parts) + "\n"


def json_kind(value: Any) -> str:
    """encoding/json's name for a JSON value in an UnmarshalTypeError."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def go_type_error(value: Any, struct: str, path: str, go_type: str) -> str:
    """encoding/json v1 ``UnmarshalTypeError.Error()`` (Struct = innermost type, Field =
    the full dotted path), e.g. ``Client.client.allowedIPs``."""
    kind = json_kind(value)
    if kind == "number" and go_type in {"int", "int64"}:
        kind = f"number {json.dumps(value)}"
    return f"json: cannot unmarshal {kind} into Go struct field {struct}.{path} of type {go_type}"


def check_go_value(value: Any, go_type: str) -> tuple[Any, str] | None:
    """None when ``value`` decodes into ``go_type``, else (offending value, its Go type):
    for a slice the offending element and the element type, as encoding/json reports."""
    if value is None:  # null leaves the Go zero value
        return None
    if go_type.startswith("[]"):
        if not isinstance(value, list):
            return value, go_type
        return next(
            (bad for v in value if (bad := check_go_value(v, go_type[2:])) is not None), None
        )
    ok = {
        "string": isinstance(value, str),
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "int64": isinstance(value, int) and not isinstance(value, bool),
        "reverse": isinstance(value, dict),  # *model.ClientReverse{Tag string}
    }.get(go_type, True)
    if ok:
        return None
    return value, "model.ClientReverse" if go_type == "reverse" else go_type


def bind_struct(
    data: Mapping[str, Any], types: Mapping[str, str], struct: str, prefix: str = ""
) -> tuple[dict[str, Any], str | None]:
    """Decode a JSON object into a Go struct: unknown keys dropped, keys matched
    case-insensitively (exact match preferred), the first type error kept, as
    encoding/json v1 does. Returns (known fields by their JSON names, error or None)."""
    folded = {k.lower(): k for k in types}
    out: dict[str, Any] = {}
    error = None
    for key, value in data.items():
        name = key if key in types else folded.get(key.lower())
        if name is None:
            continue
        bad = check_go_value(value, types[name])
        if bad is not None:
            if error is None:
                error = go_type_error(bad[0], struct, prefix + name, bad[1])
            continue
        if value is not None:
            out[name] = value
    return out, error


def go_bool(value: Any) -> bool:
    """A model.Client field decoded with the error ignored: a non-bool is false."""
    return value is True


def go_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class BindingMixin:
    """Request bodies into Go structs (part of ``X3UISimulator``; the state is there)."""

    @staticmethod
    def _bind(request: Request) -> dict[str, Any]:
        """gin ``ShouldBind``: the Content-Type picks JSON or form binding."""
        if request.content_type == "application/json":
            try:
                data = json.loads(request.body or b"null")
            except ValueError as exc:
                raise BindError(f"invalid character in JSON body: {exc.msg}") from None
            if not isinstance(data, dict):
                raise BindError("json: cannot unmarshal into Go value of type model.Inbound")
            return data
        form = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[0] for k, v in form.items()}

    @staticmethod
    def _bind_json(request: Request) -> Any:
        """gin ``ShouldBindJSON`` (the v3 client API): JSON whatever the Content-Type."""
        try:
            return json.loads(request.body or b"null")
        except ValueError as exc:
            raise BindError(f"invalid character in JSON body: {exc.msg}") from None

    def _bind_client(self, data: Any, struct: str = "Client", prefix: str = "") -> dict[str, Any]:
        """Bind into ``model.Client`` with this version's field types."""
        if not isinstance(data, dict):
            kind = json_kind(data)
            if prefix:
                raise BindError(
                    f"json: cannot unmarshal {kind} into Go struct field "
                    f"ClientCreatePayload.client of type model.Client"
                )
            raise BindError(f"json: cannot unmarshal {kind} into Go value of type model.Client")
        fields, error = bind_struct(data, self.spec.client_types, struct, prefix)
        if error:
            raise BindError(error)
        return fields

    def _bind_create_payload(self, data: Any) -> tuple[dict[str, Any], list[int]]:
        """``service.ClientCreatePayload{Client model.Client; InboundIds []int}``
        (v3.1.0 web/service/client.go:388-391)."""
        if not isinstance(data, dict):
            raise BindError(
                f"json: cannot unmarshal {json_kind(data)} into Go value of type "
                "service.ClientCreatePayload"
            )
        types = {"client": "object", "inboundIds": "[]int"}
        error = None
        client: dict[str, Any] = {}
        inbound_ids: list[int] = []
        folded = {k.lower(): k for k in types}
        for key, value in data.items():
            name = key if key in types else folded.get(key.lower())
            if name == "client" and value is not None:
                try:
                    client = self._bind_client(value, "Client", "client.")
                except BindError as exc:
                    error = error or str(exc)
            elif name == "inboundIds":
                bad = check_go_value(value, "[]int")
                if bad is not None:
                    error = error or go_type_error(
                        bad[0], "ClientCreatePayload", "inboundIds", bad[1]
                    )
                else:
                    inbound_ids = list(value or [])
        if error:
            raise BindError(error)
        return client, inbound_ids
