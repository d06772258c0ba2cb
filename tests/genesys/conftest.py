from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import responses

from genesys.client import GenesysClient
from genesys.clock import FakeClock
from genesys.ratelimit import MemoryBackend, RateLimiter

API = "https://api.example.test"
LOGIN = "https://login.example.test"
TOKEN_URL = f"{LOGIN}/oauth/token"
CLIENT_ID = "client-id-1"
CLIENT_SECRET = "s3cr3t-value-never-logged"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def add_token(rsps: responses.RequestsMock, *, token: str = "tok-1", expires_in: int = 86399) -> None:
    rsps.add(responses.POST, TOKEN_URL, json={"access_token": token, "token_type": "bearer", "expires_in": expires_in})


@pytest.fixture
def make_client(clock: FakeClock) -> Callable[..., GenesysClient]:
    def build(**overrides) -> GenesysClient:
        options = {
            "api_url": API,
            "login_url": LOGIN,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "clock": clock,
            "rng": random.Random(7),
            "rate_limiter": RateLimiter(MemoryBackend(), key="genesys:test", clock=overrides.get("clock", clock)),
        }
        options.update(overrides)
        return GenesysClient(**options)

    return build


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # clients hang up mid-body on purpose in these tests


class FakeS3:
    """A tiny local HTTP server for byte-level download behaviour `responses` cannot fake (drops, Range).

    `plan` is a list of per-request behaviours consumed in order; the last one repeats.
    """

    def __init__(self, body: bytes, etag: str = '"v1"') -> None:
        self.body = body
        self.etag = etag
        self.plan: list[dict] = [{}]
        self.requests: list[dict] = []
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/transcripts/obj?X-Amz-Expires=600"

    def start(self) -> FakeS3:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        s3 = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                index = len(s3.requests)
                behaviour = s3.plan[min(index, len(s3.plan) - 1)]
                s3.requests.append({"path": self.path, "headers": dict(self.headers)})
                body = behaviour.get("body", s3.body)
                etag = behaviour.get("etag", s3.etag)
                if behaviour.get("expired"):
                    payload = (
                        b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code>"
                        b"<Message>Request has expired</Message><X-Amz-Expires>600</X-Amz-Expires></Error>"
                    )
                    self._send(403, payload, {"Content-Type": "application/xml"})
                    return
                if behaviour.get("expired_token"):
                    # S3, URL signed with temporary credentials whose session token has expired.
                    payload = (
                        b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>ExpiredToken</Code>"
                        b"<Message>The provided token has expired.</Message></Error>"
                    )
                    self._send(400, payload, {"Content-Type": "application/xml"})
                    return
                if behaviour.get("status") == 400:
                    payload = b"<Error><Code>InvalidArgument</Code></Error>"
                    self._send(400, payload, {"Content-Type": "application/xml"})
                    return
                if behaviour.get("status") == 500:
                    self._send(500, b"oops", {})
                    return
                range_header = self.headers.get("Range")
                if_range = self.headers.get("If-Range")
                honour_range = (
                    range_header
                    and not behaviour.get("ignore_range")
                    # force_206: a misbehaving server that skips the If-Range check
                    and (behaviour.get("force_206") or if_range in (None, etag))
                )
                if behaviour.get("status") == 416:
                    self._send(416, b"", {"Content-Range": f"bytes */{len(body)}", "ETag": etag})
                    return
                if honour_range:
                    first = int(range_header.split("=")[1].split("-")[0])
                    first = behaviour.get("content_range_first", first)
                    part = body[first:]
                    headers = {
                        "Content-Range": f"bytes {first}-{len(body) - 1}/{len(body)}",
                        "ETag": etag,
                        "Content-Type": "application/json",
                        "Last-Modified": behaviour.get("last_modified"),
                        **behaviour.get("headers", {}),
                    }
                    self._send(206, part, headers, drop_after=behaviour.get("drop_after"))
                    return
                self._send(
                    200,
                    body,
                    {
                        "ETag": etag,
                        "Content-Type": "application/json",
                        "Last-Modified": behaviour.get("last_modified"),
                        **behaviour.get("headers", {}),
                    },
                    drop_after=behaviour.get("drop_after"),
                    length_extra=behaviour.get("length_extra", 0),
                )

            def _send(
                self, status: int, payload: bytes, headers: dict, drop_after: int | None = None, length_extra: int = 0
            ) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if value is not None:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload) + length_extra))
                if length_extra:
                    drop_after = len(payload)  # announce more than we send, then hang up
                if drop_after is not None:
                    self.send_header("Connection", "close")
                self.end_headers()
                if drop_after is not None:
                    self.wfile.write(payload[:drop_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(payload)

        return Handler


@pytest.fixture
def fake_s3() -> Iterator[Callable[..., FakeS3]]:
    servers: list[FakeS3] = []

    def start(body: bytes, etag: str = '"v1"') -> FakeS3:
        server = FakeS3(body, etag).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def gx():
    """Constants and helpers for tests (test modules cannot import conftest under --import-mode=importlib)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        API=API,
        LOGIN=LOGIN,
        TOKEN_URL=TOKEN_URL,
        CLIENT_ID=CLIENT_ID,
        CLIENT_SECRET=CLIENT_SECRET,
        add_token=add_token,
    )
