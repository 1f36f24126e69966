"""The 3x-ui panel client (pure HTTP, no ORM) and its local simulator.

Services build an ``X3UIClient`` from a ``Node`` row; tasks retry on ``X3UIUnavailable``
only. The simulator is imported from ``nodes.x3ui.simulator`` explicitly, so production
code never loads it by accident.
"""

from .client import X3UIClient, duplicate_emails, is_duplicate_message
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
from .types import (
    GENERATION_LEGACY,
    GENERATION_V3,
    GENERATIONS,
    Generation,
    Inbound,
    PanelClient,
    ServerStatus,
)

__all__ = [
    "GENERATIONS",
    "GENERATION_LEGACY",
    "GENERATION_V3",
    "Generation",
    "Inbound",
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
