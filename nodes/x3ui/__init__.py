"""The 3x-ui panel client (pure HTTP, no ORM).

Services build an ``X3UIClient`` from a ``Node`` row. The local panel simulator used by
tests, benchmarks and demos is a development tool, ``devtools.x3ui_simulator``, which
production code never imports.
"""

from .client import X3UIClient
from .exceptions import (
    X3UIAuthError,
    X3UIDuplicateClient,
    X3UIError,
    X3UIForeignClient,
    X3UIInboundNotFound,
    X3UILoginRefused,
    X3UINotFound,
    X3UIRejected,
    X3UIUnavailable,
)
from .transport import duplicate_emails, is_duplicate_message
from .types import (
    GENERATION_V3,
    PanelClient,
    ServerStatus,
)

__all__ = [
    "GENERATION_V3",
    "PanelClient",
    "ServerStatus",
    "X3UIAuthError",
    "X3UIClient",
    "X3UIDuplicateClient",
    "X3UIError",
    "X3UIForeignClient",
    "X3UIInboundNotFound",
    "X3UILoginRefused",
    "X3UINotFound",
    "X3UIRejected",
    "X3UIUnavailable",
    "duplicate_emails",
    "is_duplicate_message",
]
