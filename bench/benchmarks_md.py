"""Writing a benchmark's figures into BENCHMARKS.md: one marked block inside its section.

Used by the benchmarks that regenerate their own tables (``bench_consortium``, ``bench_privacy``).
"""

from __future__ import annotations

import re
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def write_block(section_title: str, start: str, end: str, text: str, path: Path = BENCHMARKS) -> None:
    """Put ``text`` (which starts with ``start`` and ends with ``end``) into ``path``.

    The block between the markers is replaced where it exists; otherwise ``text`` is appended at
    the end of the section headed ``section_title`` (created at the end of the file if missing).
    Hand-written text outside the markers is kept.
    """
    current = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmarks\n"
    if start in current and end in current:
        pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
        current = pattern.sub(lambda _: text, current)
    elif section_title in current:
        head, tail = current.split(section_title, 1)
        following = re.search(r"\n## ", tail)
        cut = following.start() if following else len(tail)
        current = head + section_title + tail[:cut].rstrip() + "\n\n" + text + "\n" + tail[cut:]
    else:
        current = current.rstrip() + "\n\n" + section_title + "\n\n" + text + "\n"
    path.write_text(current, encoding="utf-8")
