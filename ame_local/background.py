"""A loopback HTTP server of the local stack, served on a daemon thread until stopped."""

from __future__ import annotations

import threading
from typing import Any


class ServedInBackground:
    """Mixin: `self._server` (a socketserver) is served on a daemon thread from `start` until `stop`."""

    _server: Any
    _thread: threading.Thread | None = None

    def _thread_name(self) -> str:
        raise NotImplementedError

    def start(self) -> Any:
        self._thread = threading.Thread(target=self._server.serve_forever, name=self._thread_name(), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5.0)
