"""What every browser test shares: Debian's Chromium, the flags it runs headless with in a
container, where screenshots go (var/test-artifacts/), and logging in to the console. The
`browser` fixture (a launched Chromium beside the live server) is in the root conftest.py."""

from pathlib import Path
from urllib.parse import urlencode

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "var" / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def console_log_in(page, base: str, username: str, password: str, *, next_path="/admin/"):
    """Log in to the console through its login form, then land on `next_path`."""
    page.goto(f"{base}/admin/login/?{urlencode({'next': next_path})}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#login-form [type=submit]")
