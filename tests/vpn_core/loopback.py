"""What the tunnel carries and what the server proves itself with: a loopback HTTP page and a
self-signed TLS certificate."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


class LoopbackPage:
    """An HTTP server on 127.0.0.1 (a daemon thread) answering every GET with ``body``, a
    text with a random token no other server could produce. ``stop()`` shuts it down; each
    request it serves is counted in ``hits``."""

    def __init__(self) -> None:
        self.body = f"vpnsite tunnel test page {secrets.token_hex(16)}\n"
        self.hits = 0
        page = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 5  # a client that stops sending cannot hold a thread

            def do_GET(self) -> None:
                page.hits += 1
                data = page.body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format, *args) -> None:  # noqa: A002 - the base signature
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="vpn-core-page",
            daemon=True,
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@dataclass(frozen=True)
class TlsMaterial:
    """A self-signed certificate for ``server_name`` and its key, PEM."""

    server_name: str
    certificate_pem: str
    key_pem: str

    @property
    def certificate_lines(self) -> list[str]:
        """As 3x-ui stores an inline certificate: one string per PEM line."""
        return self.certificate_pem.strip().splitlines()

    @property
    def key_lines(self) -> list[str]:
        return self.key_pem.strip().splitlines()


def self_signed(server_name: str) -> TlsMaterial:
    """An ECDSA P-256 certificate valid for a day for ``server_name`` only (not for the
    server's IP), so a client that does not send the link's ``sni`` cannot verify it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, server_name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(server_name)]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return TlsMaterial(
        server_name=server_name,
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
    )
