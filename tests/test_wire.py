"""Each response leaves the server in one write (`api.wire.HttpProtocol`): its head and body in
one TCP segment, counted by the client's kernel (Linux's `TCP_INFO`, `tcpi_data_segs_in`), on
the test server (asyncio's loop) and under uvloop, which `fidelis serve` runs."""

from __future__ import annotations

import base64
import socket
import struct
from typing import Any
from urllib.parse import urlsplit

import uvicorn

from fidelis.api.wire import HttpProtocol
from tests.conftest import Server, TenantHandle, free_port, serving

# struct tcp_info (linux/tcp.h): the segments that carried data received, a u32 at this offset.
_DATA_SEGS_IN = 152


def _data_segments_in(sock: socket.socket) -> int:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    assert len(info) >= _DATA_SEGS_IN + 4, "a kernel that counts data segments (Linux 4.6+)"
    count: int = struct.unpack_from("I", info, _DATA_SEGS_IN)[0]
    return count


def _exchange(base_url: str, requests: list[bytes]) -> list[bytes]:
    """Send each request on one connection, reading its whole answer before the next; the
    answers and the data segments they came in."""
    url = urlsplit(base_url)
    answers = []
    with socket.create_connection((url.hostname, url.port)) as sock:
        for request in requests:
            sock.sendall(request)
            answer = b""
            while b"\r\n\r\n" not in answer or len(answer) < _length(answer):
                chunk = sock.recv(65536)
                assert chunk, "the server closed the connection"
                answer += chunk
            answers.append(answer)
        answers.append(str(_data_segments_in(sock)).encode())
    return answers


def _length(answer: bytes) -> int:
    head, _, _ = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    raise AssertionError(f"no content-length in {head!r}")


def test_each_answer_comes_in_one_segment(server: Server, tenant: TenantHandle) -> None:
    host = urlsplit(server.base_url).netloc.encode()
    health = b"GET /health HTTP/1.1\r\nHost: " + host + b"\r\n\r\n"
    token = b"Basic " + base64.b64encode(":".join(tenant.auth).encode())
    points = (
        b"GET /v1/pvt/Customer/nobody-here/points HTTP/1.1\r\nHost: " + host + b"\r\n"
        b"Authorization: " + token + b"\r\n\r\n"
    )
    *answers, segments = _exchange(server.base_url, [health, points, health])
    assert [a.split(b" ", 2)[1] for a in answers] == [b"200", b"200", b"200"]
    assert b'"CustomerExists":false' in answers[1]
    assert all(a.endswith(b"}") for a in answers), "each with its JSON body"
    assert int(segments) == len(answers)


async def _hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"{}"})


def test_under_uvloop_too() -> None:
    port = free_port()
    config = uvicorn.Config(
        _hello, host="127.0.0.1", port=port, loop="uvloop", http=HttpProtocol, lifespan="off"
    )
    with serving(config):
        hello = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        *answers, segments = _exchange(f"http://127.0.0.1:{port}", [hello] * 3)
    assert [a.split(b" ", 2)[1] for a in answers] == [b"200"] * 3
    assert int(segments) == 3
