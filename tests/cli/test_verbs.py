"""Every verb ``VERB_MODULES`` lists exists, registers one command, and every command is listed."""

from __future__ import annotations

import importlib
from pathlib import Path

from fedqsar.cli.main import VERB_MODULES, app

CLI = Path(importlib.import_module("fedqsar.cli").__file__ or "").parent
HELPERS = {"__init__", "common", "main", "uplift_table"}  # modules of the CLI that are not verbs


def test_every_listed_verb_is_a_module_with_register() -> None:
    for name in VERB_MODULES:
        assert callable(importlib.import_module(f"fedqsar.cli.{name}").register), name


def test_every_verb_module_is_listed() -> None:
    modules = {path.stem for path in CLI.glob("*.py")} - HELPERS
    assert modules == set(VERB_MODULES)


def test_the_app_has_a_command_or_group_per_verb() -> None:
    names = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    assert len(names) >= len(VERB_MODULES) and "manifest-diff" in names
