"""DNS rebinding (issue 19, item 1): a real server answers 403 to a foreign Host on the websocket and on every HTTP
endpoint, and serves the names in `server.allowedHosts` as before."""

from __future__ import annotations

import base64
import http.client
import os
import socket
import tomllib
from urllib.parse import urlparse

import pytest

from tests.browser_support import REPO

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # a real server (the `dashboard` fixture)

ENDPOINTS = ["/", "/_stcore/health", "/_stcore/host-config", "/_stcore/metrics", "/_stcore/script-health-check",
             "/static/index.html", "/media/x.png", "/component/x/index.html", "/_stcore/upload_file/s/f",
             "/runs"]  # fmt: skip
FOREIGN = ["evil.example", "evil.example.", "127.0.0.1.evil.example", "localhost.evil.example", "[::2]", ""]


def status(url: str, path: str, host: str | None) -> int:
    parts = urlparse(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.putrequest("GET", path, skip_host=True)
        if host is not None:
            connection.putheader("Host", host)
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def websocket_status(url: str, host: str, origin: str) -> int:
    """The status of a websocket handshake on /_stcore/stream (101 switches protocols)."""
    parts = urlparse(url)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET /_stcore/stream HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Protocol: streamlit\r\n\r\n")  # fmt: skip
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:
        sock.sendall(request.encode())
        reply = sock.recv(4096).decode("latin-1")
    return int(reply.split()[1])


def test_1_the_config_allows_only_local_names():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert sorted(config["server"]["allowedHosts"]) == sorted(["localhost", "127.0.0.1", "::1"])


@pytest.mark.parametrize("host", FOREIGN)
def test_1_a_foreign_host_gets_403_on_the_websocket(dashboard, host):
    port = urlparse(dashboard.url).port
    named = f"{host}:{port}" if host else ""
    assert websocket_status(dashboard.url, named, f"http://{named}") == 403


@pytest.mark.parametrize("path", ENDPOINTS)
def test_1_a_foreign_host_gets_403_on_every_endpoint(dashboard, path):
    port = urlparse(dashboard.url).port
    for host in FOREIGN:
        assert status(dashboard.url, path, f"{host}:{port}") == 403, (host, path)
    assert status(dashboard.url, path, None) in (400, 403), "no Host header at all (HTTP/1.1 requires one: 400)"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST", "[::1]"])
def test_1_the_allowed_names_are_served(dashboard, host):
    port = urlparse(dashboard.url).port
    assert status(dashboard.url, "/_stcore/health", f"{host}:{port}") == 200
    assert websocket_status(dashboard.url, f"{host}:{port}", f"http://{host}:{port}") == 101
