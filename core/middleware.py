"""Request id, access log line and HTTP metrics (first in MIDDLEWARE, in this order), and the
Content-Security-Policy header."""

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from core.logging import request_id_var
from core.metrics import http_request_observe

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is kept when it is a plain token (a proxy's $request_id, a UUID); anything
# else (too long, spaces, control characters) is replaced by a fresh one.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")
# Probes and scrapes are logged at DEBUG: they would drown everything else.
QUIET_VIEWS = frozenset({"healthz", "readyz", "metrics"})

access_logger = logging.getLogger("vpnsite.access")


def request_id_from(*, header: str | None) -> str:
    """The incoming X-Request-ID when it is sane, otherwise a new one."""
    if header and _SANE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Every log line of a request carries its id; the response echoes it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_from(header=request.META.get("HTTP_X_REQUEST_ID"))
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response


def view_label(request: HttpRequest) -> str:
    """The URL name that answered (bounded: never the raw path), for metrics and logs."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name or "<unnamed>"
    if request.path.startswith(f"/{settings.STATIC_URL.lstrip('/')}"):
        return "static"
    return "<unmatched>"


class RequestMetricsMiddleware:
    """Counts and times each request by view and status, and logs one access line (the route
    pattern, never the path: feed tokens and query strings stay out of the logs)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        seconds = time.perf_counter() - started
        view = view_label(request)
        http_request_observe(
            view=view, method=request.method or "", status=response.status_code, seconds=seconds
        )
        match = getattr(request, "resolver_match", None)
        route = f"/{match.route}" if match is not None and match.route else request.path
        access_logger.log(
            logging.DEBUG if view in QUIET_VIEWS else logging.INFO,
            "%s %s %s %.1fms",
            request.method,
            route,
            response.status_code,
            seconds * 1000,
            extra={
                "http_method": request.method,
                "http_route": route,
                "http_status": response.status_code,
                "duration_ms": round(seconds * 1000, 1),
                "view": view,
            },
        )
        return response


def csp_header_value(policy: dict[str, list[str]]) -> str:
    """`{"default-src": ["'self'"], ...}` as a header value: `default-src 'self'; ...`."""
    return "; ".join(
        " ".join([directive, *sources]) if sources else directive
        for directive, sources in policy.items()
    )


class ContentSecurityPolicyMiddleware:
    """Sends SECURE_CSP as the Content-Security-Policy header of every response that has none;
    under the console's prefix (``/<ADMIN_URL>``) SECURE_CSP_CONSOLE instead, with the hash of
    the theme's one inline style added to its ``style-src`` and ``style-src-elem`` (settings;
    docs/console.md).

    Django 5.2 has no CSP support of its own; the setting has the shape of Django 6.0's
    (`SECURE_CSP`, directive -> sources), so on 6.0 this class gives way to
    `django.middleware.csp.ContentSecurityPolicyMiddleware` with the console's policy as a
    `csp_override` of the admin's views. No page of ours has an inline script or style (they
    are static files).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.header = csp_header_value(settings.SECURE_CSP) if settings.SECURE_CSP else ""
        self.console_prefix = f"/{settings.ADMIN_URL.lstrip('/')}"
        self.console_policy = getattr(settings, "SECURE_CSP_CONSOLE", None)
        self._console_header: str | None = None

    def console_header(self) -> str:
        """The console's header, built on first use (it renders a template of the theme)."""
        if self._console_header is None:
            from core.admin import unfold_theme_style_hash

            policy = {key: list(sources) for key, sources in self.console_policy.items()}
            theme_hash = unfold_theme_style_hash()
            if theme_hash:
                for directive in ("style-src", "style-src-elem"):
                    if directive in policy:
                        policy[directive].append(theme_hash)
            self._console_header = csp_header_value(policy)
        return self._console_header

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" in response:
            return response
        if self.console_policy and request.path.startswith(self.console_prefix):
            response["Content-Security-Policy"] = self.console_header()
        elif self.header:
            response["Content-Security-Policy"] = self.header
        return response
