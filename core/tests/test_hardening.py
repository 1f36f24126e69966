"""Small hardening rules: a bad Host header is one warning line, every page
carries a Content-Security-Policy its own inline code obeys, feed 404s are never cached."""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from billing.tests.factories import PaymentFactory
from core.admin import unfold_theme_style_hash
from core.middleware import csp_header_value
from subscriptions.tests.factories import SubscriptionFactory

BROWSER = {
    "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0",
    "HTTP_ACCEPT": "text/html",
}


def test_a_bad_host_header_logs_one_warning_line_without_traceback(caplog):
    """Scanners send them all day: the project's own handler writes one WARNING line."""
    root = logging.getLogger()
    console = next(h for h in root.handlers if h.get_name() == "console")
    stream = io.StringIO()
    previous = console.setStream(stream)
    caplog.set_level(logging.DEBUG)
    try:
        response = Client().get("/healthz", HTTP_HOST="evil.example")
    finally:
        console.setStream(previous)
    assert response.status_code == 400
    lines = [line for line in stream.getvalue().splitlines() if "evil.example" in line]
    assert len(lines) == 1, stream.getvalue()
    assert " WARNING django.security.DisallowedHost " in lines[0]
    assert "Traceback" not in stream.getvalue()
    (record,) = [r for r in caplog.records if r.name == "django.security.DisallowedHost"]
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    assert record.exc_text is None


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = [part.split() for part in header.split(";") if part.strip()]
    return {name: sources for name, *sources in directives}


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _assert_obeys_its_policy(response) -> None:
    """Every inline script/style is allowed by hash, no inline style or handler attribute,
    every static file the page links exists."""
    assert response.status_code == 200
    policy = _policy(response)
    assert policy["script-src"][0] == "'self'"
    style_elements = policy.get("style-src-elem", policy["style-src"])
    assert "'unsafe-inline'" not in policy["script-src"] + policy["style-src"] + style_elements
    html = response.content.decode()
    linked = re.findall(rf'(?:href|src)="{settings.STATIC_URL}([^"?]+)', html)
    assert linked, "no static file linked"
    for path in linked:
        assert finders.find(path), path
    for body in re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, re.S):
        if body.strip():
            assert _sha256(body) in policy["script-src"], body[:200]
    for body in re.findall(r"<style[^>]*>(.*?)</style>", html, re.S):
        assert _sha256(body) in style_elements, body[:200]
        assert _sha256(body) in policy["style-src"], body[:200]
    assert not re.search(r"<[^>]+\sstyle=", html), "an inline style attribute"
    assert not re.search(r"<[^>]+\son[a-z]+=", html), "an inline event handler"


@pytest.mark.django_db
def test_every_page_carries_a_csp_its_inline_code_obeys():
    subscription = SubscriptionFactory()
    PaymentFactory()
    client = Client()
    login_page = client.get(reverse("admin:login"))
    # The console's own policy (settings SECURE_CSP_CONSOLE): Alpine's eval and the theme's
    # colour <style> by hash, nothing inline for scripts.
    policy = _policy(login_page)
    assert policy["script-src"] == ["'self'", "'unsafe-eval'"]
    assert policy["style-src-elem"] == ["'self'", unfold_theme_style_hash()]
    assert policy["style-src-attr"] == ["'unsafe-inline'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    _assert_obeys_its_policy(login_page)
    feed_page = client.get(f"/sub/{subscription.feed_token}", **BROWSER)
    assert feed_page["Content-Type"].startswith("text/html")
    assert "<svg" in feed_page.content.decode()  # the QR code, inline SVG
    assert "subscriptions/feed.css" in feed_page.content.decode()
    _assert_obeys_its_policy(feed_page)
    _assert_obeys_its_policy(client.get(reverse("billing:pay-success")))
    # Everything outside the console keeps the strict policy.
    for page in (feed_page, client.get(reverse("billing:pay-success"))):
        assert page["Content-Security-Policy"] == csp_header_value(settings.SECURE_CSP)

    operator = User.objects.create_superuser("csp", "csp@example.com", "pw-123-long")
    client.force_login(operator)
    for name in [
        "admin:index",
        "admin:core_auditlog_changelist",
        "admin:billing_payment_changelist",
        "admin:subscriptions_subscription_changelist",
    ]:
        _assert_obeys_its_policy(client.get(reverse(name)))
    # The authenticator enrolment page: its QR code is an image from the site itself.
    device = TOTPDevice.objects.create(user=operator, name="phone", confirmed=False)
    config = client.get(reverse("admin:otp_totp_totpdevice_config", args=[device.pk]))
    _assert_obeys_its_policy(config)
    qr_path = reverse("admin:otp_totp_totpdevice_qrcode", args=[device.pk])
    assert f'src="{qr_path}"' in config.content.decode()
    assert "Content-Security-Policy" in client.get(f"/sub/{subscription.feed_token}")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/sub/unknown-token", "/sub/unknown-token/extra", "/sub/"])
def test_feed_404s_are_never_cached(path):
    response = Client().get(path)
    assert response.status_code == 404
    assert "no-store" in response["Cache-Control"]
