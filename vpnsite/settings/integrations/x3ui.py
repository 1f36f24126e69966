"""3x-ui panels. Per-node credentials live encrypted in the database, not here."""

from vpnsite.env import env

# Key for panel credentials at rest (Fernet). Unset: derived from DJANGO_SECRET_KEY.
# Several comma-separated keys allow rotation: the first encrypts, all decrypt.
NODE_SECRET_KEY = env.list("NODE_SECRET_KEY", default=[])
X3UI_CONNECT_TIMEOUT = env.float("X3UI_CONNECT_TIMEOUT", default=5.0)
X3UI_READ_TIMEOUT = env.float("X3UI_READ_TIMEOUT", default=15.0)
