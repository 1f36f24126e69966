"""prometheus_client's multiprocess mode, made safe for several containers sharing one folder.

Counters and histograms recorded by the web (gunicorn workers), the Celery worker (prefork
children) and the bot are separate processes, and under docker compose separate containers.
With `PROMETHEUS_MULTIPROC_DIR` set (compose: `/app/var/metrics` on the shared `app-var`
volume), each process writes its values to its own mmap file there and `/metrics` sums all the
files (https://prometheus.github.io/client_python/multiprocess/).

Two things the library leaves to us:

- **Names.** prometheus_client names files by PID, but PIDs repeat across containers (each
  starts at 1), and two processes writing one file corrupt it. Files are named
  `<kind>_<role>-<host>-<pid>.db` instead: role from the command (web, worker, bot, ...), host
  = the container's hostname, unique per container.
- **Dead processes.** gunicorn recycles workers (`max_requests`) and Celery replaces children,
  each time leaving files behind; deleting them would make counters go backwards. Instead
  their values are *folded* (summed, exactly: counter and histogram values are additive) into
  one archive file per role and host: when gunicorn reaps a worker, when a Celery child starts,
  and when a service starts (which also folds the files its role left on another host, i.e.
  the container it replaces). So the folder stays small and counters survive restarts and
  upgrades. One container per role is assumed (the compose file's layout): scale the worker
  with CELERY_CONCURRENCY, not `--scale`.

This module imports neither Django nor any metric, so gunicorn's master can use it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import socket
import struct
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ENV_NAME = "PROMETHEUS_MULTIPROC_DIR"
# Metric kinds whose stored values are additive across processes (gauges are never folded).
FOLDABLE_KINDS = ("counter", "histogram", "summary")
ARCHIVE = "archive"
# What prometheus_client raises on a damaged file (a process killed mid-write, a full disk).
UNREADABLE = (RuntimeError, OSError, ValueError, UnicodeDecodeError, struct.error)

logger = logging.getLogger(__name__)


def metrics_directory() -> Path | None:
    """The shared folder, or None when multiprocess mode is off (single-process metrics)."""
    value = os.environ.get(ENV_NAME, "").strip()
    return Path(value) if value else None


def _clean(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]", "", text)[:63] or "x"


def process_role(argv: list[str] | None = None) -> str:
    """What this process is, from its command line: web, worker, beat, bot, or the command."""
    argv = sys.argv if argv is None else argv
    program = Path(argv[0]).name if argv else ""
    # `gunicorn ...`, or `python -m gunicorn ...` (argv[0] is then gunicorn/__main__.py).
    package = Path(argv[0]).parent.name if program == "__main__.py" else program
    if package.startswith("gunicorn"):
        return "web"
    if package.startswith("celery"):
        sub = next((a for a in argv[1:] if a in {"worker", "beat", "inspect"}), "celery")
        return sub
    if program == "manage.py" and len(argv) > 1:
        return {"runbot": "bot"}.get(argv[1], _clean(argv[1]).lower())
    return _clean(program.removesuffix(".py")).lower() or "proc"


_ROLE = process_role()
_HOST = _clean(socket.gethostname())


def process_identity() -> str:
    """`<role>-<host>-<pid>`: distinct for every process running on every container."""
    return f"{_ROLE}-{_HOST}-{os.getpid()}"


def multiprocess_enable() -> bool:
    """Switch prometheus_client to per-process files, if PROMETHEUS_MULTIPROC_DIR is set.

    Must run before the first metric is created (core.metrics calls it at import).
    """
    from prometheus_client import values

    directory = metrics_directory()
    if directory is None:
        # Set but empty (an empty line in .env): prometheus_client would write files to "".
        if getattr(values.ValueClass, "_multiprocess", False):
            values.ValueClass = values.MutexValue
        return False
    directory.mkdir(parents=True, exist_ok=True)

    if not getattr(values.ValueClass, "vpnsite_identity", False):
        value_class = values.MultiProcessValue(process_identifier=process_identity)
        value_class.vpnsite_identity = True
        values.ValueClass = value_class
    return True


# --- Folding the files of processes that are gone ----------------------------------------


@dataclass(frozen=True)
class MetricsFile:
    path: Path
    kind: str
    role: str
    host: str
    pid: str


def metrics_file_parse(path: Path) -> MetricsFile | None:
    """`counter_web-abc123-42.db` -> its parts; None for anything else (gauges included)."""
    if not path.name.endswith(".db"):
        return None
    kind, sep, identity = path.name[:-3].partition("_")
    if kind not in FOLDABLE_KINDS or not sep:
        return None
    role, _, rest = identity.partition("-")
    host, _, pid = rest.rpartition("-")
    if not (role and host and pid):
        return None
    return MetricsFile(path=path, kind=kind, role=role, host=host, pid=pid)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _folding_lock(directory: Path) -> Iterator[None]:
    with (directory / ".fold.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _values_sum(paths: list[Path]) -> dict[str, float]:
    from prometheus_client.mmap_dict import MmapedDict

    totals: dict[str, float] = defaultdict(float)
    for path in paths:
        try:
            entries = list(MmapedDict.read_all_values_from_file(str(path)))
        except FileNotFoundError:
            continue
        except UNREADABLE:
            logger.warning("metrics: %s is unreadable, dropped", path.name)
            continue
        for key, value, _timestamp, _position in entries:
            totals[key] += value
    return totals


def _archive_write(target: Path, sources: list[Path]) -> None:
    from prometheus_client.mmap_dict import MmapedDict

    totals = _values_sum([*sources, target] if target.exists() else sources)
    partial = target.with_name(f"{target.name}.partial")  # not *.db: never read while written
    partial.unlink(missing_ok=True)
    mmap_dict = MmapedDict(str(partial))
    try:
        for key, value in totals.items():
            mmap_dict.write_value(key, value, 0.0)
    finally:
        mmap_dict.close()
    partial.replace(target)
    for source in sources:
        source.unlink(missing_ok=True)


def metrics_fold(*, service_start: bool = False, directory: Path | None = None) -> int:
    """Fold the files of processes that are gone into archive files; returns how many.

    Gone: a process of this host whose PID no longer runs; with `service_start` (a service's
    first process, before it forks), also every file of this role written on another host.
    """
    directory = directory or metrics_directory()
    if directory is None or not directory.is_dir():
        return 0
    groups: dict[Path, list[Path]] = defaultdict(list)
    with _folding_lock(directory):
        for path in directory.glob("*.db"):
            parsed = metrics_file_parse(path)
            if parsed is None or (parsed.pid == ARCHIVE and parsed.host == _HOST):
                continue
            if parsed.host == _HOST:
                if not parsed.pid.isdigit() or int(parsed.pid) == os.getpid():
                    continue
                if _pid_alive(int(parsed.pid)):
                    continue
                role = parsed.role
            elif service_start and parsed.role == _ROLE:
                role = _ROLE
            else:
                continue
            archive = directory / f"{parsed.kind}_{role}-{_HOST}-{ARCHIVE}.db"
            groups[archive].append(parsed.path)
        for archive, sources in groups.items():
            _archive_write(archive, sources)
    folded = sum(len(sources) for sources in groups.values())
    if folded:
        logger.info("metrics: folded %s file(s) of finished processes", folded)
    return folded


def service_start() -> int:
    """A long-running service starts (gunicorn master, Celery worker, bot): fold leftovers."""
    try:
        return metrics_fold(service_start=True)
    except OSError:
        logger.exception("metrics: could not fold the files of finished processes")
        return 0


def process_exited() -> int:
    """A sibling process ended (gunicorn child_exit, a new Celery child): fold its files."""
    try:
        return metrics_fold()
    except OSError:
        logger.exception("metrics: could not fold the files of finished processes")
        return 0


class FilesCollector:
    """Sums every process's files, like prometheus_client's MultiProcessCollector, but reads
    the folder again if a file is folded away between listing and reading it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def collect(self):
        from prometheus_client.multiprocess import MultiProcessCollector

        for _attempt in range(3):
            files = sorted(str(path) for path in self.directory.glob("*.db"))
            try:
                return MultiProcessCollector.merge(files, accumulate=True)
            except FileNotFoundError:  # folded away meanwhile: list again
                continue
            except UNREADABLE:
                return MultiProcessCollector.merge(
                    [name for name in files if _readable(Path(name))], accumulate=True
                )
        return []


def _readable(path: Path) -> bool:
    from prometheus_client.mmap_dict import MmapedDict

    try:
        list(MmapedDict.read_all_values_from_file(str(path)))
    except UNREADABLE:
        logger.warning("metrics: %s is unreadable, left out of the scrape", path.name)
        return False
    return True
