"""A minimal HTTP/1.1 client and message reader on asyncio streams, for the deployment proxy
and the control plane's scrapes. It handles what Lepton's replicas send: bodies with a
Content-Length. Connections are kept alive and pooled per upstream."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

MAX_HEADER = 64 * 1024


class HTTPError(Exception):
    pass


@dataclass
class Message:
    start_line: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    raw_head: bytes = field(repr=False, default=b"")

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def keep_alive(self) -> bool:
        connection = (self.header(b"connection") or b"").lower()
        return connection != b"close"

    @property
    def status(self) -> int:
        return int(self.start_line.split(b" ", 2)[1])


async def read_message(reader: asyncio.StreamReader, max_body: int) -> Message | None:
    """Read one request or response; None when the peer closed the connection cleanly."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise HTTPError("connection closed in the middle of a message") from None
    except asyncio.LimitOverrunError:
        raise HTTPError("headers too large") from None
    lines = head[:-4].split(b"\r\n")
    headers = []
    for line in lines[1:]:
        key, _, value = line.partition(b":")
        headers.append((key.strip().lower(), value.strip()))
    message = Message(lines[0], headers, b"", head)
    if (message.header(b"transfer-encoding") or b"").lower() == b"chunked":
        message.body = await _read_chunked(reader, max_body)
        # forwarded re-framed with a Content-Length, which every HTTP/1.1 peer reads
        kept = [(k, v) for k, v in headers if k not in (b"transfer-encoding", b"content-length")]
        message.headers = [*kept, (b"content-length", str(len(message.body)).encode())]
        message.raw_head = (
            b"\r\n".join([lines[0], *(k + b": " + v for k, v in message.headers)]) + b"\r\n\r\n"
        )
        return message
    length = int(message.header(b"content-length") or 0)
    if length > max_body:
        raise HTTPError(f"body of {length} bytes is over the limit")
    if length:
        message.body = await reader.readexactly(length)
    return message


async def _read_chunked(reader: asyncio.StreamReader, max_body: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        line = await reader.readuntil(b"\r\n")
        length = int(line.split(b";")[0].strip(), 16)
        if length == 0:
            await reader.readuntil(b"\r\n")  # the empty line after the last chunk
            return b"".join(parts)
        size += length
        if size > max_body:
            raise HTTPError(f"body over the limit of {max_body} bytes")
        parts.append(await reader.readexactly(length))
        await reader.readexactly(2)


class Upstream:
    """One replica address with a pool of idle keep-alive connections."""

    def __init__(self, host: str, port: int, max_body: int = 64 << 20) -> None:
        self.host, self.port = host, port
        self.max_body = max_body
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def request(self, raw: bytes, timeout: float = 60.0) -> Message:
        """Send a full request; raise ConnectionError when no response came back.

        A kept-alive connection the replica has meanwhile closed (idle timeout) fails without
        an answer: the request is then sent once more on a new connection.
        """
        if self._idle:
            reader, writer = self._idle.pop()
            try:
                return await self._exchange(reader, writer, raw, timeout)
            except ConnectionError as exc:
                if isinstance(exc.__cause__, TimeoutError):
                    raise  # the replica got the request and did not answer: not a stale socket
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, limit=MAX_HEADER), 5.0
            )
        except (OSError, TimeoutError) as exc:
            raise ConnectionError(f"{self.host}:{self.port}: {exc}") from exc
        return await self._exchange(reader, writer, raw, timeout)

    async def _exchange(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        raw: bytes,
        timeout: float,
    ) -> Message:
        try:
            writer.write(raw)
            await writer.drain()
            response = await asyncio.wait_for(read_message(reader, self.max_body), timeout)
        except (OSError, asyncio.IncompleteReadError, HTTPError, TimeoutError) as exc:
            writer.close()
            raise ConnectionError(f"{self.host}:{self.port}: {exc}") from exc
        if response is None:
            writer.close()
            raise ConnectionError(f"{self.host}:{self.port} closed the connection")
        if response.keep_alive and len(self._idle) < 64:
            self._idle.append((reader, writer))
        else:
            writer.close()
        return response

    async def get(self, path: str, token: str | None = None, timeout: float = 5.0) -> Message:
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        raw = f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n{auth}\r\n".encode()
        return await self.request(raw, timeout)

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


def response(
    status: int, body: bytes, content_type: bytes = b"application/json", extra: bytes = b""
) -> bytes:
    reason = {
        200: b"OK",
        400: b"Bad Request",
        411: b"Length Required",
        413: b"Payload Too Large",
        502: b"Bad Gateway",
        503: b"Service Unavailable",
    }.get(status, b"Status")
    return b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n%s\r\n%s" % (
        status,
        reason,
        content_type,
        len(body),
        extra,
        body,
    )
