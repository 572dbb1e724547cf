"""What `make run` starts: `streamlit run dashboard.py` with the Host check (ui/hosts.py) in front of every HTTP
endpoint, not only the websocket that Streamlit's own `server.allowedHosts` covers.

    python -m ui.serve [streamlit options, e.g. --server.port 8501]

Streamlit's script mode has no hook for middleware, so its internal middleware list gets the check put first before
the server is built. Everything else (signals, the server's own exit) is plain `streamlit run`.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from pathlib import Path

DASHBOARD = Path(__file__).resolve().parent.parent / "dashboard.py"
# What the home page imports beyond Streamlit, slowest first (py-spy of the first render: scipy.stats alone was
# 0.9 s of 3.3 s, for the verdicts' bootstrap). A thread imports them while the server starts and the first
# browser loads its JavaScript, time the first script run would otherwise spend importing; a module the script
# reaches first is imported once (the import lock makes the other thread wait for it, not import it twice).
PRELOAD = ("scipy.stats", "pandas", "plotly.graph_objects", "PIL.PngImagePlugin", "ui.cache", "ui.figures",
           "ui.seeds_view", "ui.job_panel", "ui.train_form", "aecore.verdicts")  # fmt: skip


def preload() -> None:
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a failed preload only means the page imports it (and reports it) itself
            return


def guard_every_endpoint() -> None:
    """Put AllowedHosts in front of the middleware Streamlit builds its server with (once per process)."""
    from starlette.middleware import Middleware
    from streamlit.web.server.starlette import starlette_app

    from ui.hosts import AllowedHosts

    built = starlette_app.create_streamlit_middleware
    if getattr(built, "guards_hosts", False):
        return

    def guarded() -> list[Middleware]:
        return [Middleware(AllowedHosts), *built()]

    guarded.guards_hosts = True  # type: ignore[attr-defined]
    starlette_app.create_streamlit_middleware = guarded


def main(options: list[str]) -> None:
    from streamlit.web import cli

    guard_every_endpoint()
    if os.environ.get("AECORE_PRELOAD", "1") != "0":  # 0: the bench's reference without it
        threading.Thread(target=preload, name="aecore-preload", daemon=True).start()
    sys.argv = ["streamlit", "run", str(DASHBOARD), *options]
    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main(sys.argv[1:])
