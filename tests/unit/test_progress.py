"""The one progress protocol (``fedqsar.progress``) and the library functions that take it."""

from __future__ import annotations

import inspect

import pytest

from fedqsar import consortium, demo
from fedqsar.cli.common import StageProgress
from fedqsar.evaluation import protocol, tuning
from fedqsar.federation import simulation
from fedqsar.inference import score
from fedqsar.model import training
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.network import HeadSpec, MultitaskModel
from fedqsar.prep import pipeline, structures
from fedqsar.probe import run
from fedqsar.progress import EPOCH_STAGE, describe, no_progress, or_silent, printing

from .model.conftest import make_prepared

TAKES_PROGRESS = (
    pipeline.prepare,
    structures.process_structures,
    training.run_fit,
    training.fit,
    simulation.run_simulation,
    protocol.run_protocol,
    tuning.tune_kinds,
    run.run_probe,
    score.score_labelled,
    demo.run_demo,
)


@pytest.mark.parametrize("function", TAKES_PROGRESS, ids=lambda f: f.__qualname__)
def test_every_library_progress_parameter_is_the_one_protocol(function) -> None:
    annotation = inspect.signature(function).parameters["progress"].annotation
    assert annotation == "Progress | None"


def test_consortium_reports_through_the_printing_helper() -> None:
    assert "printing(say)" in inspect.getsource(consortium.evaluate_consortium)


def test_printing_writes_detail_or_counts() -> None:
    lines: list[str] = []
    report = printing(lines.append)
    report("local", 0, 3, "A")
    report("federated rounds", 2, 10)
    report("tuning", 4)
    assert lines == ["  local: A", "  federated rounds: 2/10", "  tuning: 4"]
    assert describe("x", 1, None, "") == "x: 1"


def test_no_progress_is_silent_and_stands_in_for_none(capsys: pytest.CaptureFixture[str]) -> None:
    no_progress("stage", 1, 2, "detail")
    assert or_silent(None) is no_progress and or_silent(print) is print
    assert capsys.readouterr().out == ""


def test_stage_progress_is_a_progress() -> None:
    with StageProgress(enabled=False) as bars:
        bars("a", 0, 4)
        bars("a", 3, 4, "half")
        bars("b", 1)
        assert [t.completed for t in bars._progress.tasks] == [3, 1]
        assert [t.description for t in bars._progress.tasks] == ["a half", "b"]


def test_run_fit_reports_each_epoch_done_of_the_most() -> None:
    prepared = make_prepared(n_rows=60)
    model = MultitaskModel(prepared.n_bits, ModelConfig(hidden_sizes=(16,)), {"p": HeadSpec.from_tasks(prepared.tasks)})
    calls: list[tuple[str, int, int | None, str]] = []
    logs: list[training.EpochLog] = []

    def record(stage: str, done: int, total: int | None = None, detail: str = "") -> None:
        calls.append((stage, done, total, detail))

    cfg = TrainConfig(epochs=3, early_stopping_patience=0, batch_size=32, test_fold=None)
    result = training.run_fit(training.Trainer(model, {"p": prepared}, cfg), record, observer=logs.append)
    assert [(s, d, t) for s, d, t, _ in calls] == [(EPOCH_STAGE, 1, 3), (EPOCH_STAGE, 2, 3), (EPOCH_STAGE, 3, 3)]
    assert logs == result.history and calls[0][3] == training.describe_epoch(result.history[0])
    assert "validation loss" in calls[0][3]
