"""What a route handler gets and returns, and the two Go failures it may raise."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    host: str
    remote_ip: str = "127.0.0.1"
    cookies: dict[str, str] = field(default_factory=dict)

    @property
    def is_xhr(self) -> bool:
        return self.headers.get("X-Requested-With", "") == "XMLHttpRequest"

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip().lower()


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    abort: bool = False  # close the socket without answering


class BindError(ValueError):
    """gin binding failed: reported as ``success:false`` with the Go error text."""


class GoPanic(Exception):
    """A Go panic (type assertion on malformed settings): gin recovery answers 500."""
