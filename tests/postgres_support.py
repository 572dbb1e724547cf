"""A throwaway PostgreSQL server for tests: a fresh cluster in a temp folder, on a free local port, never a service.

PostgreSQL refuses to run as root, so as root the cluster belongs to `nobody` and its commands run through
`runuser`. Unix sockets are off: clients reach it on 127.0.0.1 only, with trust authentication.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SERVER_FLAGS = "-c listen_addresses=127.0.0.1 -k '' -c fsync=off -c full_page_writes=off -c synchronous_commit=off"


def find_postgres() -> Path | None:
    """The newest Debian-style /usr/lib/postgresql/<version>/bin, else the folder of `initdb` on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def postgres_server(bin_dir: Path) -> Iterator[str]:
    """Start a server; yield its URL (`postgresql://postgres@127.0.0.1:<port>/postgres`); stop it and delete it."""
    folder = Path(tempfile.mkdtemp(prefix="aecore-postgres-"))
    as_owner: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "nobody", "nogroup")
        as_owner = ["runuser", "-u", "nobody", "--"]
    data = folder / "data"

    def run(*command: str) -> None:
        subprocess.run([*as_owner, *command], check=True, capture_output=True, text=True, timeout=120)

    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        for attempt in range(3):  # another process may take the free port before the server binds it
            port = free_port()
            try:
                run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w", "-t", "60",
                    "-o", f"-p {port} {SERVER_FLAGS}", "start")  # fmt: skip
                break
            except subprocess.CalledProcessError:
                if attempt == 2:
                    log = (folder / "server.log").read_text()[-2000:]
                    raise RuntimeError(f"postgres did not start: {log}") from None
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*as_owner, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60)  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)
