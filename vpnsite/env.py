"""One django-environ reader for the whole settings package."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

# A developer's .env is read when present; real deployments pass the environment itself
# (docker compose `env_file`, systemd, ...). Values already in the environment win.
if (BASE_DIR / ".env").is_file():
    env.read_env(str(BASE_DIR / ".env"), overwrite=False)

# Runtime state of the embedded setup (SQLite file, broker queue, beat schedule, cache).
VAR_DIR = Path(env("VPNSITE_VAR_DIR", default=str(BASE_DIR / "var"))).resolve()
