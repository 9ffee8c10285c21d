"""The one address of a deployment: a small HTTP proxy in front of its replicas.

It sends each request to the next ready replica (round robin). When a replica dies or is
retired, a request that got no response from it is sent again to another replica, which is
safe because every route is read-only or a pure prediction: clients never see a replica
restart or a rolling update.
"""

from __future__ import annotations

import asyncio
import contextlib

import orjson

from lepton.deployments._http import MAX_HEADER, HTTPError, Upstream, read_message, response

_SHUTTING_DOWN = b'"code":"shutting_down"'  # a replica's answer once it got SIGTERM


class Proxy:
    def __init__(self, host: str, port: int, max_body: int = 8 << 20) -> None:
        self.host, self.port = host, port
        self.max_body = max_body
        self.upstreams: list[Upstream] = []
        self._next = 0
        self._server: asyncio.AbstractServer | None = None
        self.retries = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._client, self.host, self.port, limit=MAX_HEADER, reuse_address=True
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
        for upstream in self.upstreams:
            upstream.close()

    def set_upstreams(self, upstreams: list[Upstream]) -> None:
        self.upstreams = list(upstreams)

    async def _forward(self, raw: bytes) -> bytes:
        # each replica is tried at most once per request: with one shared round-robin counter,
        # concurrent requests could otherwise send a retry back to the replica that just died
        tried: list[Upstream] = []
        while True:
            candidates = [u for u in self.upstreams if not any(u is t for t in tried)]
            if not candidates:
                break
            self._next = (self._next + 1) % len(candidates)
            upstream = candidates[self._next]
            tried.append(upstream)
            try:
                reply = await upstream.request(raw)
            except ConnectionError:
                self.retries += 1
                continue
            if reply.status == 503 and _SHUTTING_DOWN in reply.body:
                # retired while the request was on its way: it refused it without running it
                self.retries += 1
                continue
            return reply.raw_head + reply.body
        body = orjson.dumps(
            {"error": {"code": "unavailable", "message": "No replica is ready; retry shortly."}}
        )
        return response(503, body, extra=b"retry-after: 1\r\n")

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    request = await read_message(reader, self.max_body)
                except HTTPError as exc:
                    status = 413 if "limit" in str(exc) else 400
                    writer.write(
                        response(
                            status,
                            orjson.dumps({"error": {"code": "bad_request", "message": str(exc)}}),
                            extra=b"connection: close\r\n",
                        )
                    )
                    await writer.drain()
                    return
                if request is None:
                    return
                writer.write(await self._forward(request.raw_head + request.body))
                await writer.drain()
                if not request.keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()
