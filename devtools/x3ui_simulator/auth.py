"""Sessions, CSRF, Bearer API tokens, login and logout, the login limiter and the owner's
Telegram login alerts."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import parse_qs

from .messages import MSG_BAD_FORM, MSG_EXPIRED, MSG_LOGIN_BAD, MSG_NO_PASS, MSG_NO_USER
from .wire import BindError, Request, Response

COOKIE_NAME: Final = "3x-ui"
DEFAULT_SESSION_MAX_AGE: Final = 360 * 60  # sessionMaxAge default since v2.6.5: 6 h

# v3.0.2 web/controller/login_limiter.go:10-12 (the same in v3.1.0 …:9-13, v3.6.0 …:9-12)
LOGIN_MAX_FAILURES: Final = 5
LOGIN_WINDOW: Final = 5 * 60.0
LOGIN_COOLDOWN: Final = 15 * 60.0


class AuthMixin:
    """Authentication (part of ``X3UISimulator``)."""

    def _session(self, request: Request) -> tuple[str, dict[str, Any]] | None:
        sid = request.cookies.get(COOKIE_NAME, "")
        with self._lock:
            session = self._sessions.get(sid)
            if session is None:
                return None
            if session["expires"] < self._time():
                self._sessions.pop(sid, None)
                return None
            return sid, session

    def _new_session(self, csrf_token: str | None = None, *, authed: bool = False):
        sid = secrets.token_urlsafe(24)
        session = {
            "csrf": csrf_token or secrets.token_urlsafe(32),
            "authed": authed,
            "expires": self._time() + self.session_max_age,
        }
        with self._lock:
            self._sessions[sid] = session
        path = self.base_path if self.csrf else "/"
        cookie = (
            f"{COOKIE_NAME}={sid}; Path={path}; Max-Age={self.session_max_age}; "
            "HttpOnly; SameSite=Lax"
        )
        return sid, session, ("Set-Cookie", cookie)

    def _bearer_ok(self, request: Request) -> bool:
        if not self.csrf:  # v2.8.3 has no API tokens (v3.0.2 web/controller/api.go:33-55)
            return False
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return False
        digest = hashlib.sha256(header[7:].strip().encode()).hexdigest()
        with self._lock:
            return any(hmac.compare_digest(digest, known) for known in self._tokens)

    def _authorize(self, request: Request) -> Response | None:
        """``checkAPIAuth`` then CSRF: None when the request may proceed."""
        if self._bearer_ok(request):
            return None  # api_authed: CSRF skipped (v3.0.2 web/middleware/security.go:43-46)
        found = self._session(request)
        if found is None or not found[1]["authed"]:
            if not self.csrf:  # v2.8.3 web/controller/base.go:19-30
                if request.is_xhr:
                    response = self._fail(self._t(request, MSG_EXPIRED))
                    response.status = 401
                    return response
                return Response(307, b"", [("Location", self.base_path)])
            # v3.0.2 web/controller/api.go:46-52; v3.6.0 the same
            return Response(401 if request.is_xhr else 404)
        unsafe = request.method not in {"GET", "HEAD", "OPTIONS", "TRACE"}
        if self.csrf and unsafe and not self._csrf_ok(request, found[1]):
            return Response(403)
        return None

    def _csrf_ok(self, request: Request, session: Mapping[str, Any], form: Any = None) -> bool:
        """Header ``X-CSRF-Token``, else the form field ``_csrf`` (v3.0.2 session/csrf.go:
        16,39-42)."""
        sent = request.headers.get("X-CSRF-Token", "")
        if not sent and form is not None:
            sent = str(form.get("_csrf", ""))
        if not sent and request.content_type == "application/x-www-form-urlencoded":
            sent = parse_qs(request.body.decode("utf-8", "replace")).get("_csrf", [""])[0]
        return bool(sent) and hmac.compare_digest(sent, session["csrf"])

    def _h_csrf_token(self, request: Request) -> Response:
        found = self._session(request)
        if found is not None:
            return self._ok(found[1]["csrf"])
        _sid, session, cookie = self._new_session()
        return self._ok(session["csrf"], headers=[cookie])

    def _client_ip(self, request: Request) -> str:
        """v2.8.3 trusts X-Real-IP / X-Forwarded-For (web/controller/util.go:16-29); from
        v3.0.2 only a trusted proxy may set them (util.go:18-39), none is configured here."""
        if not self.csrf:
            forwarded = request.headers.get("X-Real-IP") or request.headers.get(
                "X-Forwarded-For", ""
            )
            if forwarded.strip():
                return forwarded.split(",")[0].strip()
        return request.remote_ip

    def _h_login(self, request: Request) -> Response:
        """v2.8.3 web/controller/index.go:57-102; v3.0.2 index.go:79-113 (limiter first)."""
        found = self._session(request)
        try:
            form = self._bind(request)
        except BindError:
            form = None
        if self.csrf and (found is None or not self._csrf_ok(request, found[1], form)):
            return Response(403)  # CSRFMiddleware on POST login runs before the handler
        if form is None:
            return self._fail(self._t(request, MSG_BAD_FORM))
        username, password = str(form.get("username") or ""), str(form.get("password") or "")
        if not username:
            return self._fail(self._t(request, MSG_NO_USER))
        if not password:
            return self._fail(self._t(request, MSG_NO_PASS))
        ip = self._client_ip(request)
        key = f"{ip.strip()}\x00{username.strip().lower()}"  # login_limiter.go:90
        if self.spec.login_limiter and not self._limiter_allows(key):
            self._login_refused(username, password, ip, "too many failed attempts")
            return self._fail(self._t(request, MSG_LOGIN_BAD))
        user_ok = hmac.compare_digest(username, self.username)
        pass_ok = hmac.compare_digest(password, self._password)
        if not (user_ok and pass_ok):
            if self.spec.login_limiter:
                self._limiter_failure(key)
            self._login_refused(username, password, ip, "invalid credentials")
            return self._fail(self._t(request, MSG_LOGIN_BAD))
        self._limiter.pop(key, None)  # registerSuccess (login_limiter.go:83-87)
        self._alert("success", username, ip)
        token = None
        if found is not None:
            self._sessions.pop(found[0], None)
            token = found[1]["csrf"]  # not rotated at login; the cookie is
        _sid, _session, cookie = self._new_session(token, authed=True)
        self._save_state()
        return self._ok(None, self._t(request, self.spec.login_ok_msg), headers=[cookie])

    def _limiter_allows(self, key: str) -> bool:
        """``allow``: a finished block is cleared (v3.0.2 login_limiter.go:41-60)."""
        record = self._limiter.get(key)
        if record is None or not record.get("blocked_until"):
            return True
        if self._time() < record["blocked_until"]:
            return False
        self._limiter.pop(key, None)
        return True

    def _limiter_failure(self, key: str) -> None:
        """``registerFailure``: sliding 5-minute window, the 5th failure blocks for 15
        minutes and clears the list (v3.0.2 login_limiter.go:62-81)."""
        now = self._time()
        record = self._limiter.setdefault(key, {"failures": [], "blocked_until": 0.0})
        record["failures"] = [t for t in record["failures"] if now - t < LOGIN_WINDOW]
        record["failures"].append(now)
        if len(record["failures"]) >= LOGIN_MAX_FAILURES:
            record["failures"] = []
            record["blocked_until"] = now + LOGIN_COOLDOWN

    def _login_refused(self, username: str, password: str, ip: str, reason: str) -> None:
        self.login_failures += 1
        self._alert("failed", username, ip, password=password, reason=reason)

    def _alert(
        self, status: str, username: str, ip: str, *, password: str = "", reason: str = ""
    ) -> None:
        """``UserLoginNotify`` to the owner's Telegram (bot on, tgBotLoginNotify default
        on): v2.8.3 web/service/tgbot.go:2599-2628 puts "Password==<tried>" in a failure
        alert; v3.0.2 tgbot.go:2779-2810 sends a reason and no password."""
        alert: dict[str, Any] = {
            "status": status,
            "username": username,
            "ip": ip,
            "time": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self._time())),
        }
        if status == "failed":
            if self.spec.alert_has_password:
                alert["password"] = password
            else:
                alert["reason"] = reason
        self.owner_alerts.append(alert)

    def _h_logout(self, request: Request) -> Response:
        found = self._session(request)
        if self.csrf:  # v3.0.2 index.go:45,138-148: CSRF-checked POST, {"success": true}
            if found is None or not self._csrf_ok(request, found[1]):
                return Response(403)
            self._sessions.pop(found[0], None)
            self._save_state()
            return self._json({"success": True}, headers=[("Cache-Control", "no-store")])
        if found is not None:
            self._sessions.pop(found[0], None)
            self._save_state()
        return Response(307, b"", [("Location", self.base_path)])
