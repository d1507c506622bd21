"""``fedqsar --help`` documents the exit code of every error family; errors exit with theirs."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from fedqsar import errors
from fedqsar.cli.common import reports_errors
from fedqsar.cli.main import app

runner = CliRunner()


def test_help_lists_every_exit_code() -> None:
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "Exit codes: 0 done; 1 done, and the answer is no" in text
    for family in errors.FAMILIES:
        assert f"{family.exit_code} {family.family} error" in text
    assert {family.family: family.exit_code for family in errors.FAMILIES} == {
        "input": 2,
        "compatibility": 3,
        "integrity": 4,
        "internal": 5,
    }


def _concrete_errors() -> list[type[errors.FedQSARError]]:
    found = [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, errors.FedQSARError) and value not in errors.FAMILIES
    ]
    return [error for error in found if error is not errors.FedQSARError]


@pytest.mark.parametrize("error", _concrete_errors(), ids=lambda e: e.__name__)
def test_every_error_belongs_to_one_family_and_exits_with_its_code(error: type[errors.FedQSARError]) -> None:
    families = [family for family in errors.FAMILIES if issubclass(error, family)]
    assert len(families) == 1, f"{error.__name__} is in {families}"
    assert error.exit_code == families[0].exit_code and error.family == families[0].family

    @reports_errors
    def command() -> None:
        raise (
            error("/some/file", "what", "fix")
            if error.__init__ is errors.CorruptArtefactError.__init__
            else error("what")
        )

    with pytest.raises(typer.Exit) as info:
        command()
    assert info.value.exit_code == families[0].exit_code


@pytest.mark.parametrize(
    ("error", "family"),
    [
        (errors.ModelDataMismatchError, "compatibility"),  # a model for other data, not a bad input file
        (errors.IncompatiblePartnersError, "compatibility"),
        (errors.CorruptArtefactError, "integrity"),
        (errors.AccountingError, "internal"),
    ],
)
def test_non_input_errors_do_not_exit_2(error: type[errors.FedQSARError], family: str) -> None:
    assert error.family == family and error.exit_code != 2 and re.fullmatch(r"[345]", str(error.exit_code))
