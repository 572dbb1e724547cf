"""`python -m ui.serve` imports the home page's slow modules in a thread while the server starts. A failed preload is
silent by design (the page imports the module itself), so these tests are what notices a preload gone stale."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.browser_support import REPO
from ui.serve import PRELOAD

CHILD = """
import json, sys
from ui import serve
serve.preload()
print(json.dumps({name: name in sys.modules for name in serve.PRELOAD}))
"""


def test_every_preloaded_module_imports_in_a_fresh_interpreter():
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, cwd=REPO, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(loaded.values()), f"not preloaded: {[name for name, ok in loaded.items() if not ok]}"


def test_the_preload_covers_what_made_the_home_page_slow():
    # scipy.stats was 0.9 s of the first render's 3.3 s (py-spy, BENCHMARKS.md); pandas and plotly follow
    assert {"scipy.stats", "pandas", "plotly.graph_objects"} <= set(PRELOAD)
