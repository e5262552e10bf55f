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
                if not self._forward(data, upstream):
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

    def _forward(self, data: bytes, upstream: bool) -> bool:
        """Whether `data` goes on; a subclass may hold a client here (this thread waits)."""
        return True


class HttpHoldProxy(TcpProxy):
    """A forwarder in front of an HTTP server (the S3 store) that holds its clients still at one
    request, found by its request line holding every part of `request` (e.g. `PUT` and a key):

    - `let_through=False`: that request never reaches the server, nor anything after it;
    - `let_through=True`: it reaches the server and its answer reaches the client; nothing after it
      reaches the server.

    A held client waits in a real socket call (as behind a stalled network) until the test kills it
    (then `stop()` lets the proxy's threads go) or `release()`s it: what was held goes on, and nothing
    is held again. `holding` is set from the hold on. HTTP/1.1 clients (botocore, S3A) send one request
    at a time on a connection, so a request begins a chunk of the stream."""

    def __init__(self, target: tuple[str, int], request: tuple[bytes, ...], let_through: bool) -> None:
        super().__init__(target)
        self.request = request
        self.let_through = let_through
        self.holding = threading.Event()
        self._answer_pending = False
        self._released = threading.Event()
        self._go = threading.Event()  # released or stopped

    def release(self) -> None:
        self._released.set()
        self._go.set()

    def stop(self) -> None:
        super().stop()
        self._go.set()

    def _forward(self, data: bytes, upstream: bool) -> bool:
        if self._released.is_set():
            return True
        if not upstream:
            if self._answer_pending and data.startswith(b"HTTP/1.") and data[9:12] != b"100":
                self._answer_pending = False
                self.holding.set()  # the answer goes back to the client; nothing more goes on
            return True
        if not self.holding.is_set():
            line = data.split(b"\r\n", 1)[0]
            if not all(part in line for part in self.request):
                return True
            if self.let_through:
                self._answer_pending = True
                return True
            self.holding.set()
        self._go.wait()  # held until released, or until the proxy stops (the client killed before)
        return self._released.is_set() and not self.cut.is_set()
