"""The provenance section shows the library versions a run recorded, never those installed at render time."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from fedqsar.report import gather
from fedqsar.report.sections_data import provenance_section
from fedqsar.versions import LIBRARIES, library_versions, read_versions, write_versions


def _rows(run: Path) -> dict[str, str]:
    (table,) = [t for t in provenance_section(gather(run)).tables if ("run folder", str(run.resolve())) in t.rows]
    return {row[0]: row[1] for row in table.rows}


def test_the_report_shows_the_recorded_versions_even_when_others_are_installed(
    synthetic_run: Path, tmp_path: Path
) -> None:
    run = tmp_path / "RUN"
    shutil.copytree(synthetic_run, run)
    recorded = {"fedqsar": "0.0.9-recorded", "torch": "1.13.1", "flwr": "1.42.0rc0"}
    (run / "evaluation" / "versions.json").write_text(json.dumps(recorded), encoding="utf-8")
    assert library_versions()["fedqsar"] != recorded["fedqsar"]  # the test would show nothing otherwise
    rows = _rows(run)
    assert rows["fedqsar version"] == "0.0.9-recorded" and rows["torch version"] == "1.13.1"
    assert "evaluation/versions.json" in rows["library versions"]
    assert "numpy version" not in rows  # not recorded, so not shown (never looked up at render time)


def test_a_top_level_versions_file_wins_and_none_reads_not_recorded(synthetic_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "RUN"
    shutil.copytree(synthetic_run, run)
    (run / "evaluation" / "versions.json").unlink(missing_ok=True)
    assert _rows(run)["library versions"].startswith("not recorded")
    (run / "versions.json").write_text(json.dumps({"fedqsar": "top"}), encoding="utf-8")
    (run / "evaluation" / "versions.json").write_text(json.dumps({"fedqsar": "evaluation"}), encoding="utf-8")
    assert _rows(run)["fedqsar version"] == "top"


def test_write_versions_records_every_library(tmp_path: Path) -> None:
    path = write_versions(tmp_path / "out")
    recorded = read_versions(path)
    assert recorded is not None and tuple(recorded) == tuple(sorted(LIBRARIES))
    assert recorded == library_versions()
    (tmp_path / "bad.json").write_text("[1, 2]", encoding="utf-8")
    assert read_versions(tmp_path / "bad.json") is None and read_versions(tmp_path / "absent.json") is None
