"""The HTML report of a run: ``write_report(run_dir)`` reads the run folder, writes one file.

The report reads only the run folder (layout: docs/CONTRACTS.md "A run folder"); the file it
writes is self-contained (inline CSS, images as data URIs, no scripts, no network).
"""

from __future__ import annotations

from pathlib import Path

from fedqsar.errors import ReportError
from fedqsar.report.gather import ReportData, gather
from fedqsar.report.render import SECTION_IDS, render_html

__all__ = ["SECTION_IDS", "ReportData", "gather", "render_html", "write_report"]


def write_report(run_dir: Path, out: Path | None = None, probes: tuple[Path, ...] = ()) -> Path:
    """Write the HTML report of ``run_dir``.

    Parameters
    ----------
    run_dir
        A run folder written by ``fedqsar demo`` / ``fedqsar federate`` + ``evaluate``.
    out
        Where to write; default ``run_dir / "report.html"``.
    probes
        Folders written by ``fedqsar probe`` to show in the report's probe section.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ReportError
        If a required file is missing or malformed, or ``out`` cannot be written.
    """
    data = gather(Path(run_dir), tuple(Path(p) for p in probes))
    target = Path(out) if out is not None else Path(run_dir) / "report.html"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)  # fail before the rendering work
        html = render_html(data)
        target.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write the report to {target}: {exc}", "choose a writable path with --out") from exc
    return target
