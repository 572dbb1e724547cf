"""Loaded by every Python process the study tests start (their PYTHONPATH leads here): logs each training start.

With $AECORE_TEST_TRAINING_LOG set, the trainer that `aecore.pipeline.load_or_train` calls appends
"<pid> <run_id>" to that file before it trains, so a test counts trainings across worker processes, spawned ones
included. Two optional switches:
- $AECORE_TEST_HOLD_AT=k: the k-th training start in the log never returns, so a test can SIGKILL the process
  while that trial trains;
- $AECORE_TEST_BARRIER=n: a process's first training waits until n processes have started one (for at most
  60 s), so the workers of a test really train side by side.
"""

import os

if os.environ.get("AECORE_TEST_TRAINING_LOG"):
    import fcntl
    import time

    import aecore.pipeline

    _real_train = aecore.pipeline.train
    _log_path = os.environ["AECORE_TEST_TRAINING_LOG"]
    _first = True

    def _log_start(run_id: str) -> int:
        with open(_log_path, "a+") as log:
            fcntl.flock(log, fcntl.LOCK_EX)
            log.write(f"{os.getpid()} {run_id}\n")
            log.flush()
            log.seek(0)
            return len(log.read().splitlines())

    def _starters() -> set[str]:
        with open(_log_path) as log:
            return {line.split()[0] for line in log.read().splitlines()}

    def _logged_train(config, *args, **kwargs):
        global _first
        position = _log_start(config.run_id)
        if position == int(os.environ.get("AECORE_TEST_HOLD_AT", "0")):
            while True:
                time.sleep(1)
        barrier = int(os.environ.get("AECORE_TEST_BARRIER", "0"))
        if _first and barrier:
            _first = False
            deadline = time.monotonic() + 60
            while len(_starters()) < barrier and time.monotonic() < deadline:
                time.sleep(0.05)
        return _real_train(config, *args, **kwargs)

    aecore.pipeline.train = _logged_train
