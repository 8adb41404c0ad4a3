"""A fault-injecting TCP proxy for Redis: cut the connection at a chosen command.

    proxy = FaultProxy(redis_server.port)          # clients connect to proxy.url
    proxy.cut_at("EVALSHA", then="refuse")         # the next EVALSHA: connection dropped before
                                                   # Redis sees it, then Redis "is gone"
    ...
    proxy.heal()                                   # Redis is back
    proxy.cut_after(3)                             # the 3rd command from now, whatever it is
    proxy.cut_at("EXEC", forward=True)             # EXEC runs in Redis, its answer is lost
    proxy.close()

It parses the client's RESP (arrays of bulk strings, RESP2/3 requests are the same) so a cut
falls exactly between two commands, even inside a pipeline sent in one write. Replies are
passed through untouched. Threads, not asyncio: it works beside any event loop, and the
server under test cannot starve it. Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Callable
from types import TracebackType

Command = list[bytes]


def parse_command(buf: bytes | bytearray, start: int = 0) -> tuple[Command, int] | None:
    """One client command from ``buf[start:]``: (its arguments, the offset after it), or None
    if incomplete. Inline commands (``PING\\r\\n``) are split on spaces."""
    if start >= len(buf):
        return None
    end = buf.find(b"\r\n", start)
    if end < 0:
        return None
    if buf[start : start + 1] != b"*":
        return bytes(buf[start:end]).split(), end + 2
    count = int(buf[start + 1 : end])
    args: Command = []
    pos = end + 2
    for _ in range(count):
        end = buf.find(b"\r\n", pos)
        if end < 0:
            return None
        if buf[pos : pos + 1] != b"$":
            raise ValueError(f"not a bulk string at {pos}: {bytes(buf[pos:end])!r}")
        size = int(buf[pos + 1 : end])
        pos = end + 2
        if len(buf) < pos + size + 2:
            return None
        args.append(bytes(buf[pos : pos + size]))
        pos += size + 2
    return args, pos


class _Rule:
    def __init__(self, match: Callable[[Command], bool], nth: int, forward: bool, then: str) -> None:
        self.match, self.left, self.forward, self.then = match, nth, forward, then


class _Pair:
    """One client connection and its upstream; ``muted``: answers from Redis are dropped."""

    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client, self.server = client, server
        self.muted = False
        self.answered = threading.Event()  # Redis answered while muted


class FaultProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._rule: _Rule | None = None
        self._refusing = False
        self._closed = False
        self.commands = 0  # every complete command seen from clients
        self.cuts = 0  # connections cut by a rule
        self.names: list[str] = []  # command names in order (upper case), for debugging tests
        self.fired = threading.Event()
        threading.Thread(target=self._accept, name="tcpfault-accept", daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    # -- faults ---------------------------------------------------------------------------

    def cut_at(
        self, command: str | Callable[[Command], bool], *, nth: int = 1, forward: bool = False, then: str = "pass"
    ) -> None:
        """Arm a cut at the ``nth`` command from now matching ``command`` (a regex on the upper-case
        command name, or a predicate on the arguments).

        ``forward``: the command reaches Redis first (it runs; its answer is lost).
        ``then``: ``"pass"`` (new connections work) or ``"refuse"`` (an outage until :meth:`heal`).
        Every open connection is cut, as when Redis or the network goes away.
        """
        if isinstance(command, str):
            pattern = re.compile(command)

            def match(args: Command) -> bool:
                return bool(args) and pattern.fullmatch(args[0].decode("latin-1").upper()) is not None
        else:
            match = command
        if then not in ("pass", "refuse"):
            raise ValueError("then must be 'pass' or 'refuse'")
        with self._lock:
            self.fired.clear()
            self._rule = _Rule(match, nth, forward, then)

    def cut_after(self, n: int, **kw: object) -> None:
        """Cut at the ``n``-th command from now, whatever it is."""
        self.cut_at(lambda args: True, nth=n, **kw)  # type: ignore[arg-type]

    def disarm(self) -> bool:
        """Drop an armed rule; True if it had fired (or there was none)."""
        with self._lock:
            self._rule = None
        return self.fired.is_set()

    def refuse(self) -> None:
        """An outage: every connection cut now, new ones closed at once, until :meth:`heal`."""
        with self._lock:
            self._refusing = True
        self._cut_all()

    def heal(self) -> None:
        with self._lock:
            self._refusing = False

    # -- plumbing -------------------------------------------------------------------------

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                refusing = self._refusing or self._closed
            if refusing:
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._conns |= {client, server}
            pair = _Pair(client, server)
            threading.Thread(target=self._upstream, args=(pair,), daemon=True).start()
            threading.Thread(target=self._downstream, args=(pair,), daemon=True).start()

    def _upstream(self, pair: _Pair) -> None:
        client, server = pair.client, pair.server
        buf = bytearray()
        try:
            while chunk := client.recv(65536):
                buf += chunk
                pos = 0
                while (parsed := parse_command(buf, pos)) is not None:
                    args, end = parsed
                    verdict = self._check(args)
                    if verdict == "cut":
                        self._cut_all()
                        return
                    if verdict == "cut-after":
                        # Redis runs it, the client never hears: drop answers from now on, and
                        # cut once Redis has answered (it has run the command by then).
                        pair.muted = True
                        server.sendall(bytes(buf[pos:end]))
                        pair.answered.wait(5)
                        self._cut_all()
                        return
                    server.sendall(bytes(buf[pos:end]))
                    pos = end
                del buf[:pos]
        except OSError:
            pass
        self._close(client, server)

    def _check(self, args: Command) -> str:
        with self._lock:
            self.commands += 1
            self.names.append(args[0].decode("latin-1").upper() if args else "")
            rule = self._rule
            if rule is None or not rule.match(args):
                return "pass"
            rule.left -= 1
            if rule.left > 0:
                return "pass"
            self._rule = None
            self.cuts += 1
            if rule.then == "refuse":
                self._refusing = True
            self.fired.set()
            return "cut-after" if rule.forward else "cut"

    def _downstream(self, pair: _Pair) -> None:
        client, server = pair.client, pair.server
        try:
            while chunk := server.recv(65536):
                if pair.muted:
                    pair.answered.set()
                    continue
                client.sendall(chunk)
        except OSError:
            pass
        self._close(client, server)

    def _close(self, *socks: socket.socket) -> None:
        for sock in socks:
            with self._lock:
                self._conns.discard(sock)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _cut_all(self) -> None:
        with self._lock:
            conns = list(self._conns)
        self._close(*conns)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        with contextlib.suppress(OSError):  # shutdown wakes the accept thread (close alone does not)
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._cut_all()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
