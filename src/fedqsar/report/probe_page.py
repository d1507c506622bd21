"""The probe's own page: one self-contained HTML file with the probe section of the report.

``fedqsar probe`` writes it next to its results (``probe.html``); it is rendered with the
report's templates, stylesheet and figures, so the page and the report's probe section agree.
"""

from __future__ import annotations

from pathlib import Path

from fedqsar import __version__
from fedqsar.report.render import environment, inline_css
from fedqsar.report.sections_valuation import probe_section, read_probe


def render_probe_page(probe_dir: Path) -> str:
    """HTML of the probe folder ``probe_dir`` (``probe.json``, ``probe_summary.csv``, ``probe_tasks.csv``)."""
    probe = read_probe(Path(probe_dir))
    record = probe.record
    fold = record.get("fold", {})
    subtitle = (
        f"candidate {record.get('candidate')} · {record.get('n_compounds')} compounds, {record.get('n_tasks')} tasks · "
        f"validation fold {fold.get('validation_fold')} ({fold.get('scheme')})"
    )
    return (
        environment()
        .get_template("probe.html")
        .render(
            title=str(record.get("candidate", "")),
            subtitle=subtitle,
            sections=(probe_section((probe,)),),
            css=inline_css(),
            version=__version__,
        )
    )


def write_probe_page(probe_dir: Path, out: Path) -> Path:
    """Write :func:`render_probe_page` of ``probe_dir`` to ``out``; returns ``out``."""
    out = Path(out)
    out.write_text(render_probe_page(probe_dir), encoding="utf-8")
    return out
