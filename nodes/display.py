"""A key's sync state as a coloured label in the console (core.display.badge); the node pages'
own admin is nodes/admin.py."""

from __future__ import annotations

from core.display import DANGER, INFO, NEUTRAL, SUCCESS, WARNING, badge
from nodes.models import SyncState

SYNC_STATE_VARIANTS = {
    SyncState.SYNCED: SUCCESS,
    SyncState.PENDING: INFO,
    SyncState.ERROR: DANGER,
    SyncState.REMOVING: WARNING,
    SyncState.REMOVED: NEUTRAL,
}


def sync_state_badge(state: str, text) -> str:
    """`text` (the state's label) coloured by the state: synced green, pending blue, error red,
    removing orange, removed grey."""
    return badge(text, SYNC_STATE_VARIANTS.get(state, NEUTRAL))
