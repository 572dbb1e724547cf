"""The Host-header check in front of every endpoint: a page served from another name that resolves to this machine
(DNS rebinding) gets 403 on every HTTP request and on the websocket, so it can neither read nor drive the dashboard.

The names allowed are Streamlit's `server.allowedHosts` (.streamlit/config.toml: localhost, 127.0.0.1, ::1); add the
name users reach the dashboard by when it is shared on a network. Streamlit itself checks the websocket only;
`make run` (ui/serve.py) puts this check in front of everything.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send
from streamlit.web.server.starlette.starlette_websocket import is_host_allowed


class AllowedHosts:
    """ASGI middleware: 403 for any HTTP request or websocket whose Host is not in `server.allowedHosts`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            hosts = [value.decode("latin-1") for name, value in scope.get("headers", []) if name == b"host"]
            if len(hosts) != 1 or not is_host_allowed(hosts[0]):
                await self._refuse(scope, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(scope: Scope, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # before the handshake: the server answers 403
            return
        body = b"403: this dashboard is not served under that host name (server.allowedHosts)\n"
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
