"""Tolerant parsing helpers and the dataclasses' panel round trip."""

from __future__ import annotations

import pytest

from nodes.x3ui import PanelClient, ServerStatus, duplicate_emails, is_duplicate_message
from nodes.x3ui.types import as_bool, as_int, json_field


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", 0), (None, 0), ("12", 12), (12, 12), (12.9, 12), ("1e3", 1000), ("x", 0), (True, 1)],
)
def test_as_int(value, expected):
    assert as_int(value) == expected


def test_as_bool():
    assert as_bool(None) is False
    assert as_bool("true") is True
    assert as_bool(0) is False


def test_json_field_accepts_string_object_and_empty():
    assert json_field('{"a": 1}') == {"a": 1}
    assert json_field({"a": 1}) == {"a": 1}
    assert json_field("") == {}
    assert json_field(None) == {}
    with pytest.raises(ValueError, match="object"):
        json_field("[1]")
    with pytest.raises(ValueError):  # noqa: PT011 - json's own error
        json_field("{")


def test_panel_client_round_trip_keeps_unknown_keys():
    raw = {"id": "u", "email": "e", "enable": True, "tgId": "", "reset": 3, "custom": "x"}
    client = PanelClient.from_panel(raw)
    out = client.to_panel()
    assert out["tgId"] == 0
    assert (out["reset"], out["custom"]) == (3, "x")
    assert PanelClient.from_panel(out) == client


def test_equality_ignores_extra():
    assert PanelClient(id="u", email="e", extra={"a": 1}) == PanelClient(id="u", email="e")
    assert hash(PanelClient(id="u", email="e", extra={"a": 1}))


def test_status_from_partial_obj():
    assert ServerStatus.from_panel({"xray": None, "cpu": "bad"}).xray_state == "unknown"


def test_duplicate_detection():
    assert is_duplicate_message("Something went wrong (Duplicate email: a@b\n)")
    assert duplicate_emails("x (email already in use: a@b\n)") == ("a@b",)
    assert duplicate_emails("x (Duplicate email: a)") == ("a",)
    assert not is_duplicate_message("Something went wrong (subId already in use: s\n)")
    assert not is_duplicate_message("")
