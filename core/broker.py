"""The embedded broker: kombu's filesystem transport, with message files published atomically.

kombu's own ``_put`` creates the message file in the queue folder and then writes it; a
consumer listing that folder can take the file in between and read it empty or half written
(``JSONDecodeError`` in the worker's consumer: https://github.com/celery/kombu/issues/1551).
Here a message is written in a staging folder on the same filesystem and renamed into the
queue folder (``os.replace`` is atomic), so a consumer only ever sees whole files.

Selected by the broker URL ``filesystem-atomic://`` (registered in ``vpnsite/celery.py``) with
the filesystem transport's options, plus ``staging_folder`` (default: ``.staging`` inside
``data_folder_out``; it must be on the queue folder's filesystem).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps
from kombu.utils.objects import cached_property


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put `payload` onto `queue`: written aside, then renamed into the queue folder."""
        # kombu's file name: consumers take the files in sorted (time) order.
        filename = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        staged = self.staging_folder / filename
        try:
            with staged.open("wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            staged.replace(Path(self.data_folder_out) / filename)
        except OSError as exc:
            staged.unlink(missing_ok=True)
            raise ChannelError(f"Cannot add file {filename!r} to the queue") from exc

    @cached_property
    def staging_folder(self) -> Path:
        folder = Path(
            self.transport_options.get("staging_folder") or Path(self.data_folder_out) / ".staging"
        )
        folder.mkdir(parents=True, exist_ok=True)
        return folder


class Transport(filesystem.Transport):
    """kombu's filesystem transport with :class:`Channel`'s atomic publishing."""

    Channel = Channel
