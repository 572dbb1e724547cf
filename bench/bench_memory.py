"""Dashboard memory: resident set size of the server once both models and 10,000 test latents are loaded.

Opens the dashboard in Chromium on a copy of the shipped runs and reads the server's VmRSS from /proc: once the home
page is drawn (the warm-up starts when the home page's script ends, so it has begun loading the models by then: not
the home page's own memory), again once the background warm-up of the default runs' caches has finished (both
models, the test set, 10,000 test latents of each, the per-digit, latent, latent quality and robustness figures),
and after a visit of the latent page (both cached maps drawn).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from bench_dashboard import HOME_TEXT, LATENT_TEXT, LATENT_TITLE, rendered_after, wait_until_idle
from common import Row, markdown_table

from tests import browser_support as bs

RSS_LIMIT_MB = 1200


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def main(smoke: bool = False) -> dict:
    """`smoke` is accepted for symmetry; the bench is the same either way."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp, sync_playwright() as playwright:
        browser = bs.launch_chromium(playwright)
        server = bs.start_dashboard(bs.copy_checkpoints(Path(tmp) / "checkpoints"), Path(tmp) / "dashboard.log")
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            rendered_after(page, lambda: page.goto(server.url), HOME_TEXT)
            idle = rss_mb(server.process.pid)
            wait_until_idle(server.process.pid)
            warm = rss_mb(server.process.pid)
            nav = page.locator('[data-testid="stSidebarNav"]')
            rendered_after(page, lambda: nav.get_by_text(LATENT_TITLE, exact=True).first.click(), LATENT_TEXT)
            loaded = rss_mb(server.process.pid)
        finally:
            bs.stop_dashboard(server)
            browser.close()
    row = Row(
        bench="dashboard memory after the warm-up and the latent page (both models, 10k test latents, maps)",
        reference=f"once the home page is drawn {idle:,.0f} MB (the warm-up has begun loading by then)",
        measured=f"RSS {loaded:,.0f} MB",
        ratio="",
        target=f"<= {RSS_LIMIT_MB:,} MB",
        met=loaded <= RSS_LIMIT_MB,
        note=f"after the warm-up, before the latent page: {warm:,.0f} MB",
    )
    return {"rows": [row], "raw": {"home_rss_mb": idle, "warm_rss_mb": warm, "latent_rss_mb": loaded}}


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    out = main()
    print(markdown_table(out["rows"]))
    print(json.dumps(out["raw"], indent=1))
