"""A response's head and body in one write (``libs/web/one_write.py``): what the wrapped
transport sends, and uvicorn serving with it over a real socket (keep-alive, streaming, HEAD,
no content, a large body, a client that goes away)."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from libs.web.one_write import OneWriteHttp, OneWriteTransport
from tests.support.waiting import eventually


class Recording:
    """What a socket's transport was asked to do, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", bytes(data)))

    def close(self) -> None:
        self.calls.append(("close", b""))
        self.closing = True

    def abort(self) -> None:
        self.calls.append(("abort", b""))

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default=None):
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


async def test_a_head_and_its_body_go_in_one_write():
    t = Recording()
    one = OneWriteTransport(t)
    one.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert t.calls == []                       # held for the body
    one.write(b"{}")
    assert t.calls == [("write", b"HTTP/1.1 200 OK\r\n\r\n{}")]
    await asyncio.sleep(0)                     # the held write's turn comes: nothing left
    assert len(t.calls) == 1


async def test_a_write_with_none_after_it_goes_at_the_loops_next_turn():
    t = Recording()
    one = OneWriteTransport(t)
    one.write(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert one.get_write_buffer_size() == 27
    await asyncio.sleep(0)
    assert t.calls == [("write", b"HTTP/1.1 204 No Content\r\n\r\n")]
    assert one.get_extra_info("peername") == ("127.0.0.1", 1)   # the rest is the socket's


async def test_close_sends_what_is_held_and_abort_drops_it():
    t = Recording()
    one = OneWriteTransport(t)
    one.write(b"last words")
    one.close()
    assert t.calls == [("write", b"last words"), ("close", b"")]
    t2 = Recording()
    two = OneWriteTransport(t2)
    two.write(b"never sent")
    two.abort()
    await asyncio.sleep(0)
    assert t2.calls == [("abort", b"")]


async def _stream():
    for n in range(3):
        yield f"part {n}\n".encode()
        await asyncio.sleep(0.01)


APP = Starlette(routes=[
    Route("/json", lambda r: JSONResponse({"hei": "verden"})),
    Route("/large", lambda r: Response(b"x" * 1_000_000, media_type="application/octet-stream")),
    Route("/stream", lambda r: StreamingResponse(_stream(), media_type="text/plain")),
    Route("/nothing", lambda r: Response(status_code=204)),
    Route("/both", lambda r: JSONResponse({"ok": True}), methods=["GET", "HEAD"]),
])


@pytest.fixture
async def served():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(APP, http=OneWriteHttp, log_level="warning",
                                           access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await eventually(lambda: server.started, 10, 0.01, "uvicorn listening")
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_uvicorn_serves_every_kind_of_response_with_it(served):
    async with httpx.AsyncClient(base_url=served) as client:   # one kept-alive connection
        for _ in range(3):
            r = await client.get("/json")
            assert (r.status_code, r.json()) == (200, {"hei": "verden"})
            assert r.headers["content-length"] == str(len(r.content))
        r = await client.get("/large")
        assert len(r.content) == 1_000_000 and set(r.content) == {ord("x")}
        r = await client.get("/stream")
        assert r.text == "part 0\npart 1\npart 2\n"
        r = await client.get("/nothing")
        assert (r.status_code, r.content) == (204, b"")
        r = await client.head("/both")
        assert (r.status_code, r.content) == (200, b"")
        assert (await client.get("/both")).json() == {"ok": True}


async def test_a_client_that_goes_away_mid_stream_leaves_the_server_serving(served):
    host, port = served.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    assert (await reader.readline()).startswith(b"HTTP/1.1 200")
    writer.close()                                   # gone before the stream ends
    await asyncio.sleep(0.1)
    async with httpx.AsyncClient(base_url=served) as client:
        assert (await client.get("/json")).status_code == 200
