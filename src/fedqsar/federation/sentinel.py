"""The sentinel process of :mod:`fedqsar.federation.containment` (standard library only).

Run as ``python -I -S sentinel.py PARENT_PID TOKEN``. It lives in its own session (a Ctrl-C or
a signal to the parent's process group does not reach it), records the processes the parent
starts, and when its stdin reaches end of file - the parent closed it, or the parent died,
SIGKILL included - it ends every process that

* carries ``FEDQSAR_RUN_TOKEN=TOKEN`` in its environment (everything started inside the
  contained block inherits it, also processes that left the parent's tree), or
* was seen as a descendant of the parent while the block ran (and is still the same process),
  or descends from one of those,

except the parent itself and processes that already existed when the sentinel started.
SIGTERM first, SIGKILL for what is left after a grace period. Then it exits.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time

TOKEN_VARIABLE = "FEDQSAR_RUN_TOKEN"
POLL_SECONDS = 0.25
GRACE_SECONDS = 2.0


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, start time) of every process visible in /proc."""
    table: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(entry)] = (int(fields[1]), fields[19])  # ppid, starttime (clock ticks since boot)
    return table


def _descendants(roots: set[int], table: dict[int, tuple[int, str]]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    stack = list(roots)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _marked(token: str) -> set[int]:
    needle = f"{TOKEN_VARIABLE}={token}".encode()
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                if needle in handle.read().split(b"\0"):
                    found.add(int(entry))
        except OSError:
            continue
    return found


def _victims(token: str, seen: dict[int, str], spared: set[int]) -> set[int]:
    table = _processes()
    alive_seen = {pid for pid, start in seen.items() if pid in table and table[pid][1] == start}
    roots = alive_seen | _marked(token)
    return (roots | _descendants(roots, table)) - spared


def _signal_all(pids: set[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            continue


def clean(token: str, seen: dict[int, str], spared: set[int]) -> None:
    """End every process of the contained block (see the module docstring)."""
    victims = _victims(token, seen, spared)
    _signal_all(victims, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    while victims and time.monotonic() < deadline:
        time.sleep(0.05)
        victims = _victims(token, seen, spared)
    for _ in range(20):  # processes may start children while they are being ended
        if not victims:
            return
        _signal_all(victims, signal.SIGKILL)
        time.sleep(0.05)
        victims = _victims(token, seen, spared)


def watch(parent: int, token: str) -> None:
    """Record the parent's descendants until stdin closes, then clean."""
    for signum in (signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    table = _processes()
    spared = {parent, os.getpid()} | _descendants({parent}, table)  # what existed before the block
    seen: dict[int, str] = {}
    while True:
        readable, _, _ = select.select([sys.stdin.fileno()], [], [], POLL_SECONDS)
        if readable and not os.read(sys.stdin.fileno(), 4096):
            break
        table = _processes()
        if parent not in table:
            break
        seen.update({pid: table[pid][1] for pid in _descendants({parent}, table) - spared})
    clean(token, seen, spared)


if __name__ == "__main__":
    watch(int(sys.argv[1]), sys.argv[2])
