"""Web workers survive slow clients: gunicorn with the project's gunicorn.conf.py
gives each connection WEB_READ_TIMEOUT seconds to send its whole request, so two clients
trickling a byte a second cannot hold both sync workers; health probes keep being answered and
the slow connections are closed once their deadline passes."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from gunicorn.config import Config
from gunicorn.http.parser import RequestParser

from core.gunicorn_worker import RequestReadTimeout, _DeadlineSocket, request_body_buffer
from tests.e2e.system import free_port

ROOT = Path(__file__).resolve().parents[2]
READ_TIMEOUT = 2.0
TRICKLE_EVERY = 1.0
PROBE_TIMEOUT = 4.0
WEBHOOK = "/api/payments/robokassa/result/"  # reads the body first thing


def http_get(port: int, path: str, *, timeout: float) -> tuple[int, float]:
    """One request on a new connection: (status, seconds), status 0 when none came in time."""
    started = time.monotonic()
    head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.settimeout(max(timeout - (time.monotonic() - started), 0.01))
            sock.sendall(head.encode())
            reply = b""
            while b"\r\n" not in reply and (chunk := sock.recv(4096)):
                reply += chunk
        return int(reply.split(b" ", 2)[1]), time.monotonic() - started
    except (OSError, ValueError, IndexError):
        return 0, time.monotonic() - started


def trickle(port: int, prefix: bytes, rest: bytes, cut_after: list, stop: threading.Event) -> None:
    """Send `prefix` at once, then `rest` a byte every TRICKLE_EVERY seconds until the server
    closes the connection; record after how many seconds it did (never: not recorded)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        opened = time.monotonic()
        sock.sendall(prefix)
        for byte in rest:
            if stop.is_set():
                return
            readable, _, _ = select.select([sock], [], [], TRICKLE_EVERY)
            try:
                if readable and not sock.recv(4096):
                    cut_after.append(time.monotonic() - opened)
                    return
                sock.send(bytes([byte]))
            except OSError:  # reset by the server
                cut_after.append(time.monotonic() - opened)
                return


@pytest.fixture
def web(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "vpnsite.settings.test",
        "VPNSITE_VAR_DIR": str(tmp_path / "var"),
        "WEB_READ_TIMEOUT": str(READ_TIMEOUT),
        "WEB_CONCURRENCY": "2",
        "LOG_FORMAT": "text",
        # Configured, so the notification URL reads the body (not a 404 before that).
        "ROBOKASSA_LOGIN": "slow-shop",
        "ROBOKASSA_PASSWORD1": "slow-p1",
        "ROBOKASSA_PASSWORD2": "slow-p2",
    }
    env.pop("DATABASE_URL", None)
    log_path = tmp_path / "web.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "vpnsite.wsgi", "--config", "gunicorn.conf.py"),
                *("--bind", f"127.0.0.1:{port}", "--graceful-timeout", "2"),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while http_get(port, "/healthz", timeout=2)[0] != 200:
                assert process.poll() is None, log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, log_path.read_text()[-3000:]
                time.sleep(0.2)
            # Both workers up and warm (each answers at least one probe of a burst).
            for _ in range(6):
                http_get(port, "/healthz", timeout=5)
            yield port, log_path
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.mark.slow
def test_web_workers_survive_slow_clients(web):
    port, log_path = web
    stop = threading.Event()
    cut_after: list[float] = []
    slow = [
        # Headers that never end: a byte a second.
        (b"GET /healthz HTTP/1.1\r\n", b"X-Slow: " + b"a" * 60),
        # Complete headers, then a body a byte a second to a URL that reads bodies.
        (
            f"POST {WEBHOOK} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 60\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n\r\n".encode(),
            b"b" * 60,
        ),
    ]
    threads = [
        threading.Thread(target=trickle, args=(port, *request, cut_after, stop), daemon=True)
        for request in slow
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.3)  # both slow clients hold a worker before the first probe
    probes: list[tuple[int, float]] = []
    try:
        ends = time.monotonic() + 4 * READ_TIMEOUT
        while time.monotonic() < ends:
            probes.append(http_get(port, "/healthz", timeout=PROBE_TIMEOUT))
            time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=TRICKLE_EVERY + 5)

    failed = [probe for probe in probes if probe[0] != 200]
    assert not failed, f"{len(failed)} of {len(probes)} probes unanswered: {probes}"
    # The first probes wait for a worker the slow clients hold, at most until their deadline.
    assert max(seconds for _status, seconds in probes) < READ_TIMEOUT + 1.5, probes
    # Each slow connection was closed by the server once its deadline passed.
    assert len(cut_after) == len(slow), cut_after
    assert all(READ_TIMEOUT - 0.2 < seconds < READ_TIMEOUT + 1.5 for seconds in cut_after)
    log = log_path.read_text()
    assert log.count("had not sent its request within 2.0s") == len(slow), log[-3000:]
    assert "Traceback" not in log, log[-3000:]


def test_the_deadline_bounds_the_whole_read_not_each_recv():
    """A byte every 0.3 s never trips a per-recv timeout; the total deadline (1 s) does."""
    server, client = socket.socketpair()
    bounded = _DeadlineSocket(server, time.monotonic() + 1.0)
    stop = threading.Event()

    def drip():
        while not stop.wait(0.3):
            client.send(b"x")

    threading.Thread(target=drip, daemon=True).start()
    started, received = time.monotonic(), b""

    def read_until_cut():
        nonlocal received
        while True:
            received += bounded.recv(1)

    try:
        with pytest.raises(RequestReadTimeout):
            read_until_cut()
    finally:
        stop.set()
        server.close()
        client.close()
    assert 2 <= len(received) <= 4
    assert 0.9 < time.monotonic() - started < 1.5
    assert bounded.timed_out


def test_a_body_sent_in_time_reaches_the_application_whole():
    """The worker reads a body of known length before the application runs; the application
    then reads the same bytes from wsgi.input, in one read or in pieces."""
    server, client = socket.socketpair()
    body = b"OutSum=299&InvId=7&" + b"x" * 100_000
    head = f"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    sender = threading.Thread(target=client.sendall, args=(head + body,), daemon=True)
    sender.start()
    try:
        bounded = _DeadlineSocket(server, time.monotonic() + 5)
        request = next(RequestParser(Config(), bounded, ("127.0.0.1", 1)))
        assert request_body_buffer(request)
        server.close()  # everything the application reads now comes from memory
        assert request.body.read(10) + request.body.read() == body
        assert request.body.read() == b""
    finally:
        sender.join(timeout=5)
        client.close()


def test_after_the_reply_starts_the_deadline_is_over():
    """A view slower than the read deadline is not a slow client: once the reply is being
    written, reads (util.close_graceful's drain) wait only for their own timeout."""
    server, client = socket.socketpair()
    try:
        bounded = _DeadlineSocket(server, time.monotonic() - 1)  # long past
        bounded.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
        client.sendall(b"late")
        bounded.settimeout(0.5)
        assert bounded.recv(10) == b"late"
        with pytest.raises(TimeoutError):
            bounded.recv(10)
        assert not bounded.timed_out
    finally:
        server.close()
        client.close()
