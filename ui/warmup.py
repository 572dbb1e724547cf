"""Server start-up for speed: torch's and BLAS's thread counts, and a background thread that warms the caches of
the runs the dashboard opens on.

Streamlit has no start-up hook, so the frame calls `start()` on every run and a `st.cache_resource` here makes
the work happen once per server process. The thread waits until no session is running a script, so it never
delays the page a visitor is waiting for (the home page first), then fills, in the order a visitor is likely
to need them: the shipped default runs' models and the test set, the per-digit statistics, the latent
page's codes and scores, the latent quality probes and the robustness curves. Every step goes through
`ui.cache` with the arguments the pages pass, so a page finds the value ready; a page that asks while a step
is computing waits for that step (Streamlit locks each cache entry) rather than computing it a second time.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator

import streamlit as st

# One thread for the server's torch work (encoding the test set, robustness curves) and for BLAS (the PCA
# baselines' fits): on the busy 2-core machine torch's default of 2 threads encoded the 10,000 test images
# 3-5x slower, and OpenBLAS's 2 threads fit and scored a PCA baseline in 1.8 s of CPU instead of 0.4 s
# (spinning threads). Training runs in the worker process, which sets its own.
SERVER_TORCH_THREADS = 1
SERVER_BLAS_THREADS = 1
THREAD_NAME = "aecore-warmup"
IDLE_CHECK_SECONDS = 0.2  # how often the thread looks whether a script run has ended
LATENT_K = 10  # the latent page's default "Neighbours (k)"
LATENT_COLOURING = "digit"  # the latent page's default "Colour by"

log = logging.getLogger(__name__)


def start() -> None:
    """Set the server's torch and BLAS threads and start the warm-up thread, once per process (cheap later)."""
    server_started()
    limit_new_blas_libraries()


_modules_when_limited = 0  # len(sys.modules) when the BLAS limit last went over the loaded libraries


def limit_new_blas_libraries() -> None:
    """Give a BLAS library loaded since the last limit the server's thread count too.

    A limit reaches only the libraries loaded when it is set: scipy's OpenBLAS, imported by the preload thread
    (ui/serve.py) or by a page after the first script run, kept its 2 spinning threads. Walking the loaded
    libraries takes ~3 ms, so it is redone only when modules were imported since (a library comes with one)."""
    global _modules_when_limited
    if len(sys.modules) == _modules_when_limited:
        return
    from threadpoolctl import threadpool_limits

    _modules_when_limited = len(sys.modules)
    threadpool_limits(SERVER_BLAS_THREADS, user_api="blas")


@st.cache_resource(show_spinner=False)
def server_started() -> threading.Thread | None:
    """Run `set_up_server` once per server process (Streamlit keeps the result for the process)."""
    return set_up_server()


def set_up_server() -> threading.Thread | None:
    """What `start` does the first time."""
    from threadpoolctl import threadpool_limits

    set_torch_threads(SERVER_TORCH_THREADS)
    threadpool_limits(SERVER_BLAS_THREADS, user_api="blas")  # process-wide for OpenBLAS, until the server exits
    from streamlit import config

    if config.get_option("global.appTest"):  # app tests drive single pages; they need no background work
        return None
    # The thread has no ScriptRunContext: Streamlit would log a warning for every spinner a cached function
    # shows while it computes.
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(_not_warmup)
    thread = threading.Thread(target=warm, name=THREAD_NAME, daemon=True)
    thread.start()
    atexit.register(_exit_without_finalising, thread)
    return thread


def set_torch_threads(count: int) -> None:
    """torch's intra-op threads for this process, without importing torch: the home page needs no torch, and
    importing it costs seconds. torch reads OMP_NUM_THREADS when it is first imported (by the first page that
    needs a model); the job worker sets its own count explicitly."""
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(count)
    else:
        os.environ["OMP_NUM_THREADS"] = str(count)


def _exit_without_finalising(thread: threading.Thread) -> None:
    """At server exit (SIGTERM, Ctrl+C) with the warm-up still inside a torch op, end the process here.

    With the 54,000-image default runs the warm-up runs long enough to be mid-op when a signal comes, and
    finalising the interpreter under it aborts in C++ ("terminate called without an active exception", exit -6).
    The job worker is stopped first (SIGTERM is its cancel: it saves nothing), as multiprocessing's own exit
    handler, which this one pre-empts, would have done.
    """
    if not thread.is_alive():
        return
    for child in multiprocessing.active_children():
        child.terminate()
    for child in multiprocessing.active_children():
        child.join(timeout=30)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _not_warmup(record: logging.LogRecord) -> bool:
    return record.threadName != THREAD_NAME


def warm(wait: Callable[[], None] | None = None) -> None:
    """Fill the caches for the default slots, step by step, calling `wait()` before each step (default: until
    no session is running a script). Never raises: a failure only means a page computes the value itself."""
    wait = wait or _wait_until_scripts_idle
    try:
        for step in steps():
            wait()
            step()
    except Exception:  # a broken run or a missing dataset: the page that needs it will say so
        if getattr(threading, "_SHUTTING_DOWN", False) or not threading.main_thread().is_alive():
            # The server is exiting (SIGTERM): a step that failed because the interpreter is shutting down
            # ("can't register atexit after shutdown" while importing) is not a fault worth a traceback.
            return
        log.warning("cache warm-up stopped early", exc_info=True)


def steps() -> Iterator[Callable[[], object]]:
    """The warm-up steps for the comparison the dashboard opens on (the shipped defaults in slots A and B)."""
    from aecore.compare import SLOTS, Comparison
    from aecore.projection import ProjectionConfig
    from ui import cache, session, widgets

    runs, _ = cache.registry()
    chosen = {slot: runs[session.default_run_id(slot)] for slot in SLOTS if session.default_run_id(slot) in runs}
    comparison = Comparison.of(chosen)
    if not comparison.slots:
        return
    keys = {s.name: s.key for s in comparison.slots}
    dataset_name = comparison.slots[0].run.config.dataset
    methods = cache.methods(comparison)
    for key in keys.values():
        yield lambda key=key: cache.model(key)
    yield lambda: cache.dataset(dataset_name)
    if not comparison.same_test_set:
        return
    # Per-digit error
    yield lambda: cache.interval_table(methods, dataset_name)
    if comparison.pair is not None:
        a, b = comparison.pair
        yield lambda: cache.paired_difference(keys[a.name], keys[b.name], (a.name, b.name))
    # Latent space, with its default controls (UMAP of the whole test set, k neighbours); a map that is not
    # on disk is left for the page to compute when asked (a UMAP costs seconds of CPU)
    n_test = len(cache.test_labels(dataset_name))
    config = ProjectionConfig(n_points=n_test)
    mapped = [s for s in comparison.slots if cache.stored_projection(s.key, config) is not None]
    projections = {}
    for s in comparison.slots:
        yield lambda s=s: cache.test_latents(keys[s.name])
    for s in mapped:
        yield lambda s=s: projections.setdefault(s.name, cache.projection(keys[s.name], config))
        yield lambda s=s: cache.trust_interval(
            keys[s.name],
            projections[s.name].coords,
            projections[s.name].indices,
            seed=0,
            k=LATENT_K,
            raw=projections[s.name].provenance["method"] == "raw",
        )
    # The maps' figures (10,000 points each), as ui.latent_view.slot_figure asks for them with the default colouring
    drawn = tuple(widgets.series(comparison)[: len(comparison.slots)])
    slot_keys = tuple((s.name, s.key) for s in comparison.slots)
    for s in mapped:
        yield lambda s=s: cache.latent_map_points(
            s.name, slot_keys, projections[s.name].provenance["key"], LATENT_COLOURING, drawn, dataset_name,
            projections[s.name],
        )  # fmt: skip
    if comparison.pair is not None:
        a, b = comparison.pair
        yield lambda: cache.agreement(keys[a.name], keys[b.name], n_points=n_test, seed=0, k=LATENT_K)
    # The slowest, for the pages further down the menu
    yield lambda: cache.latent_quality(methods, dataset_name)
    yield lambda: cache.robustness_curves(methods, dataset_name)
    yield lambda: cache.robustness_growth(methods, dataset_name)


def _wait_until_scripts_idle(running: Callable[[], bool] | None = None) -> None:
    """Return at once when no session is running a script; otherwise once none is, seen twice IDLE_CHECK_SECONDS
    apart (a rerun that follows a run at once is not taken for idle). Sleeping before every step, as it did until
    2026-12-05, added 0.4 s to each of the ~17 steps: 6.4 s of a ~19 s warm-up."""
    running = running or _a_script_is_running
    if not running():
        return
    quiet = 0
    while quiet < 2:
        time.sleep(IDLE_CHECK_SECONDS)
        quiet = 0 if running() else quiet + 1


def _a_script_is_running() -> bool:
    # Streamlit has no public API for this; its session manager is read only here, and an unexpected layout
    # means "idle", so a Streamlit upgrade can make the warm-up less polite but never stop it.
    try:
        from streamlit.runtime import Runtime
        from streamlit.runtime.app_session import AppSessionState

        sessions = Runtime.instance()._session_mgr.list_active_sessions()
        return any(info.session._state == AppSessionState.APP_IS_RUNNING for info in sessions)
    except Exception:
        return False
