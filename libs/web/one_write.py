"""Uvicorn's HTTP protocol with a response's head and body in one write (issue 17).

Uvicorn writes a response's status line and headers when the app starts it, and the body in a
second write: two ``write`` system calls per response. On this VM a write on a loopback
socket costs as much as several hundred lines of Python (it wakes the reader on the other
core): in a read of the FHIR benchmark the two were 4.5 % of the journal API's CPU (py-spy
``--native``, bench/RESULTS.md). Here the first write of a response waits, and the next
write (its body, in the same turn of the loop for every response Starlette makes) takes it
along; what has no next write goes at the loop's next turn, so nothing waits longer than
that. ``HttpToolsProtocol`` is uvicorn's own; only its transport is wrapped.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class OneWriteTransport:
    """A transport whose write is held until the next write or the loop's next turn."""

    def __init__(self, transport: asyncio.Transport):
        self._transport = transport
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._held is None:
            self._held = bytes(data)
            asyncio.get_running_loop().call_soon(self.flush)
            return
        held, self._held = self._held, None
        self._transport.write(held + bytes(data))

    def writelines(self, lines: Any) -> None:
        self.write(b"".join(lines))

    def flush(self) -> None:
        """Send what is held (at the loop's next turn, or before closing)."""
        if self._held is not None:
            held, self._held = self._held, None
            if not self._transport.is_closing():
                self._transport.write(held)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:   # reading, extra info, flow control: as is
        return getattr(self._transport, name)


class OneWriteHttp(HttpToolsProtocol):
    """``uvicorn.run(..., http=OneWriteHttp)``: uvicorn's httptools protocol, one write a
    response."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(OneWriteTransport(transport))  # type: ignore[arg-type]
