"""``fedqsar deploy``: key material, the commands of a real deployment, and a loopback run.

fedqsar deploy certs --out tls/                      test CA + server cert (127.0.0.1, localhost)
fedqsar deploy node-keys A B C --out keys/           one ECDSA P-384 key pair per partner
fedqsar deploy commands --tls tls/ --keys keys/ --partner A=/data/A/prepared ...
fedqsar deploy app-dir                               the Flower app folder for `flwr run`
fedqsar deploy loopback --partner A=... --partner B=... --partner C=... --out RUN/
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fedqsar.cli.common import console, reports_errors, say
from fedqsar.errors import ConfigError, FederationError

if TYPE_CHECKING:  # cryptography and the deployment helpers load when a subcommand runs
    from fedqsar.federation import deployment as dep
    from fedqsar.federation.certs import TlsFiles

deploy_app = typer.Typer(
    help="Run fedqsar on a real Flower SuperLink and SuperNodes (TLS + node authentication).", no_args_is_help=True
)

PartnerOpt = Annotated[list[str], typer.Option("--partner", help="NAME=PREPARED_FOLDER, once per partner.")]
ProfileOpt = Annotated[
    str, typer.Option(help="'warm' (long-running executors, short polls) or 'flower' (Flower defaults).")
]


def _parse_partners(items: list[str]) -> dict[str, Path]:
    partners: dict[str, Path] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--partner {item!r} is not NAME=PREPARED_FOLDER", "e.g. --partner A=prepared/A")
        if name in partners:
            raise ConfigError(f"partner {name!r} given twice", "give each partner once")
        partners[name] = Path(path)
    if not partners:
        raise ConfigError("no partners given", "add --partner NAME=PREPARED_FOLDER once per partner")
    return partners


def _tls_files(folder: Path) -> TlsFiles:
    from fedqsar.federation.certs import TlsFiles

    files = TlsFiles(folder / "ca.pem", folder / "ca.key", folder / "server.pem", folder / "server.key")
    missing = [str(p) for p in (files.ca_cert, files.server_cert, files.server_key) if not p.is_file()]
    if missing:
        raise ConfigError(
            f"TLS files missing: {', '.join(missing)}", f"create them with `fedqsar deploy certs --out {folder}`"
        )
    return files


@deploy_app.command("certs")
@reports_errors
def certs_command(
    out: Annotated[Path, typer.Option(help="Folder for ca.pem, ca.key, server.pem, server.key.")],
    host: Annotated[
        list[str] | None,
        typer.Option(help="Host name or IP the SuperLink is reached at (repeat; default 127.0.0.1 and localhost)."),
    ] = None,
    days: Annotated[int, typer.Option(help="Validity in days.")] = 30,
    overwrite: Annotated[bool, typer.Option(help="Replace existing files.")] = False,
) -> None:
    """Create a test CA and a SuperLink server certificate (for tests and pilots, not production)."""
    from fedqsar.federation.certs import DEFAULT_HOSTS, create_tls_certificates

    files = create_tls_certificates(out, host or list(DEFAULT_HOSTS), days, overwrite)
    say(f"CA certificate (give to every partner): {files.ca_cert}")
    say(f"server certificate and key (SuperLink only): {files.server_cert}, {files.server_key}")


@deploy_app.command("node-keys")
@reports_errors
def node_keys_command(
    names: Annotated[list[str], typer.Argument(help="Partner names.")],
    out: Annotated[Path, typer.Option(help="Folder for NAME (private) and NAME.pub (public) files.")],
    overwrite: Annotated[bool, typer.Option(help="Replace existing files.")] = False,
) -> None:
    """Create one SuperNode authentication key pair (ECDSA P-384, OpenSSH format) per partner."""
    from fedqsar.federation.certs import create_all_node_keys

    for name, files in create_all_node_keys(names, out, overwrite).items():
        say(
            f"{name}: private {files.private_key} (stays with {name}), public {files.public_key} (to the SuperLink operator)"
        )


@deploy_app.command("app-dir")
def app_dir_command() -> None:
    """Print the Flower app folder to pass to `flwr run`."""
    from fedqsar.federation import deployment as dep

    typer.echo(str(dep.app_dir()))


@deploy_app.command("commands")
@reports_errors
def commands_command(
    partners: PartnerOpt,
    tls: Annotated[Path, typer.Option(help="Folder from `fedqsar deploy certs`.")],
    keys: Annotated[Path, typer.Option(help="Folder from `fedqsar deploy node-keys`.")],
    superlink_host: Annotated[str, typer.Option(help="Host the SuperLink is reached at.")] = "127.0.0.1",
    superlink_port: Annotated[int, typer.Option(help="SuperLink port (Fleet, Control and Runtime API).")] = 9093,
    state_root: Annotated[Path, typer.Option(help="Each partner's private state goes to STATE_ROOT/NAME.")] = Path(
        "fedqsar-state"
    ),
    run_dir: Annotated[Path, typer.Option(help="Server run folder (checkpoints, ledger).")] = Path("fedqsar-run"),
    rounds: Annotated[int, typer.Option(help="Federated rounds.")] = 10,
    profile: ProfileOpt = "warm",
) -> None:
    """Print the commands of a deployment: SuperLink, registration, one SuperNode per partner, run."""
    from fedqsar.federation import deployment as dep

    spec = dep.DeploymentSpec(
        Path("."),
        _tls_files(tls),
        superlink_port,
        superlink_host,
        profile,
        preload=("torch", "fedqsar.federation.client_app"),
    )
    nodes = _node_specs(_parse_partners(partners), keys, state_root)
    for title, lines in _command_sections(spec, nodes, run_dir, rounds):
        console.print(f"[bold]# {title}[/]", highlight=False)
        for line in lines:
            typer.echo(line)
        typer.echo("")


def _node_specs(
    partners: dict[str, Path], keys: Path, state_root: Path, ports: list[int] | None = None
) -> list[dep.NodeSpec]:
    from fedqsar.federation import deployment as dep

    nodes = []
    for index, (name, prepared) in enumerate(partners.items()):
        private, public = keys / name, keys / f"{name}.pub"
        if not private.is_file() or not public.is_file():
            raise ConfigError(
                f"key pair of {name} missing in {keys}",
                f"create it with `fedqsar deploy node-keys {name} --out {keys}`",
            )
        config = {"prepared": str(prepared.resolve()), "state-dir": str((state_root / name).resolve())}
        nodes.append(dep.NodeSpec(name, private, public, config, ports[index] if ports else 9094 + index))
    return nodes


def _command_sections(
    spec: dep.DeploymentSpec, nodes: list[dep.NodeSpec], run_dir: Path, rounds: int
) -> list[tuple[str, list[str]]]:
    from fedqsar.federation import deployment as dep

    env = "export FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION=1 FLWR_TELEMETRY_ENABLED=0 FLWR_DISABLE_UPDATE_CHECK=1"
    if spec.profile == "warm":
        env += f" FLWR_SUPEREXEC_TASK_POLL_INTERVAL={spec.poll_interval} FEDQSAR_NODE_POLL={spec.poll_interval}"
    link = [env, dep.shell_line(dep.superlink_command(spec))]
    if spec.profile == "warm":
        link.append(dep.shell_line(dep.warm_exec_command(spec.superlink_address, spec.tls.ca_cert, None, spec)))
    sections = [("1. SuperLink host: start the SuperLink (TLS, node authentication, no runtime installs)", link)]
    config_toml = dep.flwr_connection_toml(spec).strip().replace("\n", "\\n")
    operator = [f"printf '{config_toml}\\n' > ~/.flwr/config.toml   # or set FLWR_HOME"]
    operator += [dep.shell_line(dep.register_command(spec, node)) for node in nodes]
    sections.append(("2. SuperLink operator: connection config, then register every partner's public key", operator))
    for node in nodes:
        lines = [env, dep.shell_line(dep.supernode_command(spec, node))]
        if spec.profile == "warm":
            lines.append(dep.shell_line(dep.warm_exec_command(f"127.0.0.1:{node.runtime_port}", None, None, spec)))
        sections.append(
            (f"3. partner {node.name}: start its SuperNode (its data path stays in its node config)", lines)
        )
    run_config: dict[str, dep.NodeConfigValue] = {
        "run-dir": str(run_dir.resolve()),
        "partners": len(nodes),
        "num-server-rounds": rounds,
    }
    sections.append(
        ("4. operator: submit the federation", [dep.shell_line(dep.run_command(dep.app_dir(), run_config))])
    )
    sections.append(("5. anyone: verify the run's ledger", [f"fedqsar ledger verify {run_dir}"]))
    return sections


@deploy_app.command("loopback")
@reports_errors
def loopback_command(
    partners: PartnerOpt,
    out: Annotated[Path, typer.Option(help="Deployment folder: tls/, keys/, logs/, state/, run/.")],
    rounds: Annotated[int, typer.Option(help="Federated rounds.")] = 2,
    config: Annotated[Path | None, typer.Option(help="TOML with [federation], [model], [train] tables.")] = None,
    profile: ProfileOpt = "warm",
    timeout: Annotated[float, typer.Option(help="Seconds allowed for the run.")] = 1800.0,
) -> None:
    """Run a whole deployment on this machine (SuperLink + one SuperNode per partner, TLS + auth)."""
    from fedqsar.federation import deployment as dep
    from fedqsar.federation.certs import create_all_node_keys, create_tls_certificates
    from fedqsar.ledger import verify
    from fedqsar.prepared import read_manifest

    parsed = _parse_partners(partners)
    for folder in parsed.values():
        read_manifest(folder)  # fails early, with a fix-it message, on a wrong PreparedSet path
    tls = create_tls_certificates(out / "tls", overwrite=True)
    create_all_node_keys(list(parsed), out / "keys", overwrite=True)
    spec = dep.DeploymentSpec(
        out,
        tls,
        dep.free_port(),
        profile=profile,
        preload=("torch", "fedqsar.federation.client_app", "fedqsar.federation.server_app"),
    )
    nodes = _node_specs(parsed, out / "keys", out / "state", [dep.free_port() for _ in parsed])
    run_config: dict[str, dep.NodeConfigValue] = {
        "run-dir": str((out / "run").resolve()),
        "partners": len(nodes),
        "num-server-rounds": rounds,
    }
    if config is not None:
        run_config["config"] = str(config.resolve())
    with dep.LoopbackDeployment(spec) as deployment:
        deployment.start_federation(nodes)
        say(f"SuperLink {spec.superlink_address} and {len(nodes)} SuperNodes up; running {rounds} rounds")
        outcome = deployment.run(dep.app_dir(), run_config, timeout)
    if outcome.returncode != 0:
        raise FederationError(f"flwr run exited with {outcome.returncode}", f"see the logs in {out / 'logs'}")
    result = verify(out / "run")
    say(f"done in {outcome.seconds:.1f} s; ledger OK ({result.n_entries} entries, head {result.head_hash[:16]})")


def register(app: typer.Typer) -> None:
    """Add the ``deploy`` verb group."""
    app.add_typer(deploy_app, name="deploy")
