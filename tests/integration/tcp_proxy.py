"""A TCP forwarder on 127.0.0.1 in front of a real server, to cut a sink off in the middle of a load.

The fault tests point a client at the proxy, let it send `cut_after_bytes` bytes towards the
server, and then the proxy drops every connection and stops listening: to the client the server is
gone (connection reset, then connection refused), as when a host dies or the network splits. `start`
again listens on the same port, as when the server comes back. Nothing here answers for the server:
every byte goes to and comes from the real one.
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress


class TcpProxy:
    def __init__(self, target: tuple[str, int], cut_after_bytes: int | None = None) -> None:
        self.target = target
        self.cut_after_bytes = cut_after_bytes
        self.sent = 0  # bytes forwarded from clients to the server
        self.cut = threading.Event()
        self._stopped = threading.Event()  # set once a cut has closed every socket, the listener last
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        if self.cut.is_set():  # a cut runs in a thread of its own: the old listener must be closed first
            self._stopped.wait(10)
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stopped.clear()
        self.cut.clear()
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening and drop every open connection (the server is cut off)."""
        self.cut.set()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
            listener, self._listener = self._listener, None
        for sock in [*sockets, *([listener] if listener else [])]:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with suppress(OSError):
                sock.close()
        self._stopped.set()

    def _accept(self, listener: socket.socket) -> None:
        while not self.cut.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=10)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self.cut.is_set():
                    client.close()
                    server.close()
                    return
                self._sockets |= {client, server}
            threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        while True:
            try:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
            except OSError:
                break
            if upstream:
                with self._lock:
                    self.sent += len(data)
                    over = self.cut_after_bytes is not None and self.sent >= self.cut_after_bytes
                if over and not self.cut.is_set():
                    threading.Thread(target=self.stop, daemon=True).start()
        for sock in (source, sink):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
