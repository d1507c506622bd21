"""No process started by a federation outlives it: ``with contained(): ...``.

Flower's simulation engine starts Ray (a GCS server, a raylet, Ray's agents, one worker per
virtual node, log and metrics monitors). Ray ties its GCS server and raylet to the driver
(kernel fate sharing), but the raylet's own children - ``ray::DashboardAgent`` and
``ray::RuntimeEnvAgent`` - were left running as orphans when ``fedqsar federate`` was
killed. The deployment helpers start SuperLinks, SuperNodes and their app processes.

``contained()`` marks every process started inside the block with a fresh token in its
environment (``FEDQSAR_RUN_TOKEN``) and starts a tiny sentinel process
(:mod:`fedqsar.federation.sentinel`, standard library only) in its own session. The sentinel
ends every marked process, and every process it saw descend from this one during the block,

* when the block exits (normally or by an exception), and
* when this process dies without running any cleanup - SIGKILL, or SIGTERM with Python's
  default handler - because the sentinel's stdin pipe then reaches end of file.

Linux only (it reads ``/proc``); elsewhere the block runs uncontained.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

from fedqsar.federation.sentinel import TOKEN_VARIABLE

SENTINEL = Path(__file__).with_name("sentinel.py")
CLEANUP_TIMEOUT_S = 30.0


@contextlib.contextmanager
def contained() -> Iterator[str | None]:
    """Run the block so that no process it starts survives it; yields the block's token."""
    if not Path("/proc/self/environ").exists():
        yield None
        return
    token = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if k != TOKEN_VARIABLE}
    sentinel = subprocess.Popen(
        [sys.executable, "-I", "-S", str(SENTINEL), str(os.getpid()), token],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
        close_fds=True,
    )
    previous = os.environ.get(TOKEN_VARIABLE)
    os.environ[TOKEN_VARIABLE] = token
    try:
        yield token
    finally:
        if previous is None:
            os.environ.pop(TOKEN_VARIABLE, None)
        else:
            os.environ[TOKEN_VARIABLE] = previous
        assert sentinel.stdin is not None
        sentinel.stdin.close()  # end of file: the sentinel cleans up and exits
        try:
            sentinel.wait(timeout=CLEANUP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            sentinel.kill()
            sentinel.wait()
