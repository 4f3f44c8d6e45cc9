"""`HttpProtocol`: uvicorn's HTTP/1.1 protocol (httptools), each response in one write.

uvicorn writes a response's head when the app sends `http.response.start` and its body when
the app sends `http.response.body`: two system calls, and on a connection with `TCP_NODELAY`
(uvloop sets it) two TCP segments, the client woken for each. An app that answers in one
piece sends both messages in the same step of the event loop, so the transport this protocol
gives uvicorn holds a write back until the next write or the end of that step
(`_OneWrite`): the head and the body leave in one `writev`. Whatever is held is written
before the connection is closed, and never later than the loop's next turn, so a response
streamed in parts, a `100 Continue` or a head without a body go out as before, a moment
later at most.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through `_OneWrite`."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, though uvloop's are not `asyncio.Transport` subclasses.
        stream = cast(asyncio.Transport, transport)
        super().connection_made(_OneWrite(stream, self.loop))  # type: ignore[arg-type]


class _OneWrite:
    """A transport whose writes made in one step of the loop go out together: a write is held
    until the next one (then both go in one `writelines`) or until the loop's next turn."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:
            self._held = data
            self._loop.call_soon(self._flush)
        else:
            self._held = None
            self._transport.writelines((held, data))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def _flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def __getattr__(self, name: str) -> Any:
        # Everything else (reading, flow control, the socket's details) is the transport's.
        return getattr(self._transport, name)
