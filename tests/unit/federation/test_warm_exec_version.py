"""``warm_exec`` patches Flower internals only on the Flower it was written against."""

from __future__ import annotations

import tomllib
import types
from pathlib import Path

import flwr
import pytest

from fedqsar.errors import EXIT_CODES, UnsupportedFlowerError
from fedqsar.federation import warm_exec

PYPROJECT = Path(__file__).resolve().parents[3] / "pyproject.toml"


def test_the_tested_flower_is_the_pinned_one_and_is_installed() -> None:
    dependencies = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["dependencies"]
    pins = [d for d in dependencies if d.startswith("flwr")]
    assert pins == [f"flwr[simulation]=={warm_exec.TESTED_FLOWER}"]
    assert warm_exec.installed_flower() == warm_exec.TESTED_FLOWER
    warm_exec.check_flower_version()  # no error on the tested version


@pytest.mark.parametrize("other", ["1.43.0", "1.41.2", "2.0.0"])
def test_another_flower_is_refused_naming_both_versions(monkeypatch: pytest.MonkeyPatch, other: str) -> None:
    monkeypatch.setattr(flwr, "__version__", other)
    with pytest.raises(UnsupportedFlowerError) as info:
        warm_exec.check_flower_version()
    assert other in info.value.what and warm_exec.TESTED_FLOWER in info.value.what
    assert f"flwr=={warm_exec.TESTED_FLOWER}" in info.value.fix and info.value.exit_code == EXIT_CODES["compatibility"]


def test_no_patch_is_applied_on_another_flower(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flwr, "__version__", "1.43.0")
    module = types.ModuleType("polling_loop")
    module.time = "the real time module"  # type: ignore[attr-defined]
    with pytest.raises(UnsupportedFlowerError):
        warm_exec.cap_module_sleep(module, 0.1)
    assert module.time == "the real time module"  # type: ignore[attr-defined]
    with pytest.raises(UnsupportedFlowerError):
        warm_exec.ForkExecutor(0.1)


def test_the_entry_point_exits_with_the_compatibility_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(flwr, "__version__", "1.43.0")
    for argv in (["supernode", "--insecure"], ["superexec", "--runtime-api-address", "127.0.0.1:1"]):
        with pytest.raises(SystemExit) as info:
            warm_exec.main(argv)
        assert info.value.code == EXIT_CODES["compatibility"]
        assert "Flower 1.43.0 is installed" in capsys.readouterr().err


def test_capped_sleep_on_the_tested_flower() -> None:
    module = types.ModuleType("polling_loop")
    warm_exec.cap_module_sleep(module, 0.01)
    assert module.time.sleep(5.0) is None and module.time.monotonic() > 0  # type: ignore[attr-defined]
