"""One django-environ reader for the whole settings package."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

# A developer's .env is read when present; real deployments pass the environment itself
# (docker compose `env_file`, systemd, ...). Values already in the environment win.
if (BASE_DIR / ".env").is_file():
    env.read_env(str(BASE_DIR / ".env"), overwrite=False)
