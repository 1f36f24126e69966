"""A gunicorn sync worker that gives each client a total deadline for sending its request.

A sync worker serves one connection at a time and reads it with blocking ``recv()`` calls
that have no timeout (gunicorn 27: ``SyncWorker.accept`` sets the client blocking,
``SocketUnreader.chunk`` is a bare ``sock.recv``; the only bound is the arbiter killing a
worker that has not checked in for ``timeout`` seconds). A client that sends one byte every
2 s therefore holds a worker for as long as it likes, and two of them stop a two-worker
site (issue 17 #5). A per-``recv`` timeout does not help: each byte arrives in time.

``DeadlineSyncWorker`` gives the request as a whole ``read_timeout`` seconds from the
moment the connection is accepted: the request line, the headers and the body. It

- hands gunicorn's parser a thin proxy of the client socket whose ``recv`` waits at most
  until the deadline (``_DeadlineSocket``); past it, ``recv`` raises ``RequestReadTimeout``,
  a ``gunicorn.http.errors.NoMoreData``, which ``SyncWorker.handle`` already treats as a
  client that went away (no 4xx/5xx, no traceback) before closing the connection with
  ``util.close_graceful``;
- reads a body of known length (``Content-Length``, up to ``BODY_BUFFER_MAX`` bytes) into
  memory before the application runs (``handle_request``), still under the deadline, so a
  slow body is cut before Django sees it rather than halfway through a view. Bigger or
  chunked bodies, and requests that ``Expect: 100-continue``, stream to the application as
  before and meet the same deadline there.

Writing the reply is not bounded (as before): the proxy restores the socket's own timeout
before every send. A slow client still holds a worker for up to ``read_timeout`` seconds, and
clients that reconnect at once can keep doing so: the buffering proxy is the first line.
gthread workers were not adopted: they change the threading model Django, the database
connections and the metrics hooks run under (not measured here). The deploy examples
(deploy/Caddyfile, deploy/nginx.conf) buffer whole requests in front of gunicorn; this
deadline is the second line, for a server without them. Configured in gunicorn.conf.py
(``WEB_READ_TIMEOUT``).
"""

from __future__ import annotations

import math
import time

from gunicorn.http.body import Body, LengthReader
from gunicorn.http.errors import NoMoreData
from gunicorn.http.unreader import IterUnreader
from gunicorn.workers.sync import SyncWorker

#: Bodies up to this size are read whole before the application runs. Django refuses a
#: bigger form body anyway (DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE, 1 MiB by default).
BODY_BUFFER_MAX = 4 * 1024 * 1024


class RequestReadTimeout(NoMoreData):
    """The client did not send its whole request within the worker's read deadline."""

    def __str__(self) -> str:
        return "request not received within the read deadline"


class _DeadlineSocket:
    """The accepted client socket, with every ``recv`` bounded by one absolute deadline.

    Everything else is passed through to the socket. ``settimeout`` is remembered so that
    a caller's own timeout (``util.close_graceful`` sets one) still applies when shorter.
    """

    def __init__(self, sock, deadline: float) -> None:
        self._sock = sock
        self._deadline: float | None = deadline
        self._timeout = sock.gettimeout()
        self.timed_out = False

    def __getattr__(self, name):
        return getattr(self._sock, name)

    def settimeout(self, value) -> None:
        self._timeout = value
        self._sock.settimeout(value)

    def gettimeout(self):
        return self._timeout

    def recv(self, size: int, *flags) -> bytes:
        if self._deadline is None:  # the reply has started: the request was read
            return self._sock.recv(size, *flags)
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            self.timed_out = True
            raise RequestReadTimeout()
        own = math.inf if self._timeout is None else self._timeout
        self._sock.settimeout(min(own, remaining))
        try:
            return self._sock.recv(size, *flags)
        except TimeoutError:
            if remaining > own:  # the caller's own, shorter timeout ran out
                raise
            self.timed_out = True
            raise RequestReadTimeout() from None
        finally:
            self._sock.settimeout(self._timeout)

    # Replies are written with the socket's own timeout (recv above puts it back after
    # every read). Once the reply starts (sendall, sendfile: gunicorn/http/wsgi.py writes
    # the response with them) the deadline is over: util.close_graceful's drain after a
    # slow view must not count as a slow client. ``send`` is only the interim
    # "100 Continue" (wsgi.create), before the body is read.
    def send(self, data, *flags):
        return self._sock.send(data, *flags)

    def sendall(self, data, *flags):
        self._deadline = None
        return self._sock.sendall(data, *flags)

    def sendfile(self, file, offset=0, count=None):
        self._deadline = None
        return self._sock.sendfile(file, offset, count)


class DeadlineSyncWorker(SyncWorker):
    """``SyncWorker`` whose clients have ``read_timeout`` seconds to send a whole request."""

    #: Seconds; set from WEB_READ_TIMEOUT by gunicorn.conf.py (in the master, before fork).
    read_timeout: float = 10.0

    def handle(self, listener, client, addr):
        if self.cfg.is_ssl:  # TLS ends at the proxy in every deploy example
            super().handle(listener, client, addr)
            return
        bounded = _DeadlineSocket(client, time.monotonic() + self.read_timeout)
        super().handle(listener, bounded, addr)
        if bounded.timed_out:
            self.log.warning(
                "Closed a connection that had not sent its request within %ss", self.read_timeout
            )

    def handle_request(self, listener, req, client, addr):
        request_body_buffer(req)
        return super().handle_request(listener, req, client, addr)


def request_body_buffer(req) -> bool:
    """Read a parsed request's body of known length (<= BODY_BUFFER_MAX) into memory now, so
    the application reads it from there; whether it did. Reading goes through the request's
    own reader (``Body(LengthReader(SocketUnreader))``, gunicorn/http/message.py), so the
    socket's deadline applies; ``wsgi.input`` is then a ``Body`` over the bytes read."""
    reader = req.body.reader if req.body is not None else None
    if (
        not isinstance(reader, LengthReader)
        or not 0 < reader.length <= BODY_BUFFER_MAX
        or getattr(req, "_expected_100_continue", False)  # the client waits for "100"
    ):
        return False
    data = req.body.read()  # RequestReadTimeout when the client is too slow
    req.body = Body(LengthReader(IterUnreader([data]), len(data)))
    return True
