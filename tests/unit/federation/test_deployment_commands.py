"""Deployment command builders: TLS, node authentication and no runtime installs, always."""

from __future__ import annotations

import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from fedqsar.errors import FederationError
from fedqsar.federation import deployment as dep
from fedqsar.federation.certs import TlsFiles
from fedqsar.federation.warm_exec import cap_module_sleep


def _spec(tmp_path: Path, profile: str = "flower") -> dep.DeploymentSpec:
    tls = TlsFiles(tmp_path / "ca.pem", tmp_path / "ca.key", tmp_path / "server.pem", tmp_path / "server.key")
    return dep.DeploymentSpec(tmp_path, tls, 9100, profile=profile, preload=("torch",))


def _node(tmp_path: Path) -> dep.NodeSpec:
    return dep.NodeSpec("A", tmp_path / "A", tmp_path / "A.pub", {"prepared": "/data/A b", "state-dir": "/s/A"}, 9200)


def test_node_config_renders_as_toml_values() -> None:
    rendered = dep.format_node_config({"partner": "A", "prepared": '/x y/"q"', "n": 3, "f": 0.5, "b": True})
    parsed = tomllib.loads("\n".join(_toml_lines(rendered)))
    assert parsed == {"partner": "A", "prepared": '/x y/"q"', "n": 3, "f": 0.5, "b": True}
    with pytest.raises(FederationError):
        dep.format_node_config({"bad key": 1})


def _toml_lines(rendered: str) -> list[str]:
    """Split ``k=v k=v`` on spaces outside JSON strings."""
    lines, current, in_string, escaped = [], "", False, False
    for char in rendered:
        if char == " " and not in_string:
            lines.append(current)
            current = ""
            continue
        current += char
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            in_string = not in_string
    lines.append(current)
    return lines


def test_superlink_command_always_has_tls_auth_and_no_installs(tmp_path: Path) -> None:
    for profile in dep.PROFILES:
        command = dep.superlink_command(_spec(tmp_path, profile))
        assert "--insecure" not in command
        assert command[command.index("--ssl-certfile") + 1] == str(tmp_path / "server.pem")
        assert command[command.index("--ssl-keyfile") + 1] == str(tmp_path / "server.key")
        assert command[command.index("--ssl-ca-certfile") + 1] == str(tmp_path / "ca.pem")
        assert "--enable-supernode-auth" in command
        assert "--disable-runtime-dependency-installation" in command
        assert ("--isolation" in command) == (profile == "warm")


def test_supernode_command_carries_key_root_cert_and_node_config(tmp_path: Path) -> None:
    for profile in dep.PROFILES:
        command = dep.supernode_command(_spec(tmp_path, profile), _node(tmp_path))
        assert "--insecure" not in command
        assert "--allow-runtime-dependency-installation" not in command
        assert command[command.index("--root-certificates") + 1] == str(tmp_path / "ca.pem")
        assert command[command.index("--auth-supernode-private-key") + 1] == str(tmp_path / "A")
        config = command[command.index("--node-config") + 1]
        assert config == 'partner="A" prepared="/data/A b" state-dir="/s/A"'
        assert command[command.index("--superlink") + 1] == "127.0.0.1:9100"


def test_connection_toml_and_env(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "warm")
    parsed = tomllib.loads(dep.flwr_connection_toml(spec))
    assert parsed["superlink"]["default"] == dep.CONNECTION_NAME
    assert parsed["superlink"][dep.CONNECTION_NAME]["address"] == "127.0.0.1:9100"
    assert "insecure" not in parsed["superlink"][dep.CONNECTION_NAME]
    env = dep.deployment_env(spec, base={"PATH": "/usr/bin"})
    assert env["FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION"] == "1"
    assert env["FLWR_HOME"] == str(spec.flwr_home.resolve())
    assert env["FLWR_DISABLE_UPDATE_CHECK"] == "1" and env["FLWR_TELEMETRY_ENABLED"] == "0"
    assert float(env["FLWR_SUPEREXEC_TASK_POLL_INTERVAL"]) == spec.poll_interval


def test_unknown_profile_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FederationError, match="profile"):
        _spec(tmp_path, "turbo")


def test_app_dir_is_a_code_free_flower_app() -> None:
    config = tomllib.loads((dep.app_dir() / "pyproject.toml").read_text())
    components = config["tool"]["flwr"]["app"]["components"]
    assert components == {
        "serverapp": "fedqsar.federation.server_app:app",
        "clientapp": "fedqsar.federation.client_app:app",
    }
    assert config["project"]["dependencies"] == []
    assert [p.name for p in dep.app_dir().iterdir() if p.suffix == ".py"] == []


def test_process_group_stops_a_process_tree(tmp_path: Path) -> None:
    group = dep.ProcessGroup(tmp_path)
    script = "import subprocess,sys,time; subprocess.Popen([sys.executable,'-c','import time; time.sleep(300)'], start_new_session=True); print('up', flush=True); time.sleep(300)"
    process = group.start("tree", [sys.executable, "-c", script], env={"PATH": "/usr/bin"})
    assert process.wait_for_log("up", timeout=60)
    deadline = time.monotonic() + 30
    while not dep.descendants(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    tree = [process.pid, *dep.descendants(process.pid)]
    assert len(tree) == 2  # the grandchild lives in its own session, like Flower's SuperExec
    assert group.stop_all(grace=5) == []
    assert not any(dep.pid_alive(pid) for pid in tree)


def test_capped_sleep_shortens_only_long_sleeps() -> None:
    import types

    module = types.ModuleType("fake")
    module.time = time  # type: ignore[attr-defined]
    cap_module_sleep(module, 0.01)
    started = time.perf_counter()
    module.time.sleep(3)  # type: ignore[attr-defined]
    assert time.perf_counter() - started < 1.0
    assert module.time.monotonic() > 0  # type: ignore[attr-defined]


def test_free_port_is_bindable() -> None:
    import socket

    port = dep.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_warm_exec_help_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fedqsar.federation.warm_exec", "superexec", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0
    assert "--runtime-api-address" in done.stdout


def test_cli_prints_commands_for_every_partner(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fedqsar.cli.deploy import deploy_app

    runner = CliRunner()
    assert runner.invoke(deploy_app, ["certs", "--out", str(tmp_path / "tls")]).exit_code == 0
    assert runner.invoke(deploy_app, ["node-keys", "A", "B", "C", "--out", str(tmp_path / "keys")]).exit_code == 0
    args = ["commands", "--tls", str(tmp_path / "tls"), "--keys", str(tmp_path / "keys"), "--profile", "flower"]
    for name in "ABC":
        args += ["--partner", f"{name}={tmp_path / 'prepared' / name}"]
    done = runner.invoke(deploy_app, args, terminal_width=400)
    assert done.exit_code == 0, done.output
    assert done.output.count("flower-supernode") == 3
    assert done.output.count("flwr supernode register") == 3
    assert "--enable-supernode-auth" in done.output and "--insecure" not in done.output
    missing = runner.invoke(deploy_app, [*args, "--partner", f"D={tmp_path}"])
    assert missing.exit_code != 0 and "node-keys D" in missing.output
