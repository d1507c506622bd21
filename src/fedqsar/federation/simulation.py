"""Embedded default: the whole federation on this machine with Flower's simulation engine.

``run_simulation`` starts Flower's real simulation runtime (Ray backend): one virtual node per
partner running fedqsar's ClientApp, and fedqsar's ServerApp in this process. Each partner's
private state lives in ``out/partners/<name>/`` (its own folder, as on its own machine); the
server writes ``out/checkpoints/``, ``out/ledger.sqlite`` and ``out/server.json``. After the
run this driver - not the server - gathers each partner's local history into
``out/history.csv``. Flower's own log goes to ``out/flower.log``, never to stdout. Every
process the run starts (Ray's servers, agents and workers) is ended when it returns, and also
when this process is killed (``containment.contained``).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from fedqsar.config import save_toml
from fedqsar.errors import FederationError, FedQSARError
from fedqsar.federation.client_app import PartitionTable, build_client_app
from fedqsar.federation.config import FederationConfig
from fedqsar.federation.containment import contained
from fedqsar.federation.defences import check_model_for_defence
from fedqsar.federation.guards import check_compatible, handshake_summary
from fedqsar.federation.partner import MODEL_DIR, PartnerPaths, manifest_and_bits, read_history, selected_model
from fedqsar.federation.personalised import PERSONALISED_DIR
from fedqsar.federation.server_app import SUMMARY_FILE, ServerPlan, build_server_app
from fedqsar.federation.strategy import AggregateObserver
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.personalise import is_selection_folder
from fedqsar.progress import Progress

PARTNERS_DIR = "partners"
HISTORY_FILE = "history.csv"
FLOWER_LOG = "flower.log"


@dataclass
class FederatedRun:
    """Result of a federated run.

    Attributes
    ----------
    out
        The run folder.
    partner_models
        partner -> model folder (final global trunk + that partner's head), for ``model.io.load_model``.
    history
        Long table (round, partner, metric, value) computed locally by each partner.
    summary
        The server's summary (round seconds, participants, refusals, DP epsilon).
    selected_models
        partner -> the federated model that partner selected: the round with its lowest
        validation loss (partner-local selection, like local early stopping), else the final model.
    personalised_models
        partner -> its personalised model folder (``model.personalise.load_selection``) when
        the run personalised (``FederationConfig.personalisation.enabled``).
    """

    out: Path
    partner_models: dict[str, Path]
    history: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    selected_models: dict[str, Path] = field(default_factory=dict)
    personalised_models: dict[str, Path] = field(default_factory=dict)


def partner_table(partners: Mapping[str, Path], out: Path) -> dict[int, PartnerPaths]:
    """Flower partition id -> partner paths (partners in name order)."""
    return {
        i: PartnerPaths(name, Path(partners[name]), Path(out) / PARTNERS_DIR / name)
        for i, name in enumerate(sorted(partners))
    }


def precheck(partners: Mapping[str, Path], fed_cfg: FederationConfig, model_cfg: ModelConfig | None = None) -> None:
    """Refuse before starting Flower: incompatible manifests, too few partners for SecAgg+,
    a network the bit-privacy defence leaves nothing to federate of."""
    if model_cfg is not None:
        check_model_for_defence(model_cfg, fed_cfg.bit_privacy)
    if len(partners) < max(1, fed_cfg.min_partners):
        raise FederationError(
            f"{len(partners)} partner(s) given, min_partners is {fed_cfg.min_partners}",
            "add partners or lower min_partners",
        )
    summaries = {}
    for name, folder in partners.items():
        manifest, n_bits = manifest_and_bits(Path(folder))
        summaries[name] = handshake_summary(manifest, n_bits)
    check_compatible(summaries)
    if fed_cfg.secagg.enabled and len(partners) < 3:
        raise FederationError(
            f"SecAgg+ needs at least 3 partners, {len(partners)} given",
            "add partners, or turn secure aggregation off (--no-secagg / secagg.enabled = false)",
        )


def refuse_finished(out: Path) -> None:
    """Refuse to start in a run folder whose ledger is closed (the run already ended)."""
    from fedqsar.federation.server_app import LEDGER_FILE
    from fedqsar.ledger import read_entries

    ledger = Path(out) / LEDGER_FILE
    if ledger.is_file():
        entries = read_entries(ledger)
        if entries and entries[-1].kind == "run_end":
            raise FederationError(
                f"the federated run in {out} already finished (its ledger ends with run_end)",
                "choose a new --out folder for a new run",
            )


def check_resumable(out: Path, table: Mapping[int, PartnerPaths]) -> None:
    """Before starting Flower: the run folder's ledger, latest checkpoint and partners' states read back intact.

    Raises
    ------
    CorruptArtefactError, ChecksumError, LedgerIntegrityError
        Naming the damaged file and what to do (seconds, not after Ray and Flower started).
    """
    from fedqsar.federation.checkpoint import latest_checkpoint
    from fedqsar.federation.partner import latest_private_state, load_private_state
    from fedqsar.federation.server_app import CHECKPOINTS, LEDGER_FILE
    from fedqsar.ledger import verify

    if (Path(out) / LEDGER_FILE).is_file():
        verify(Path(out) / LEDGER_FILE)
    latest_checkpoint(Path(out) / CHECKPOINTS)
    for paths in table.values():
        state = latest_private_state(paths.state_dir)
        if state is not None:
            load_private_state(state)


def run_simulation(
    partners: Mapping[str, Path],
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    fed_cfg: FederationConfig,
    out: Path,
    progress: Progress | None = None,
    *,
    outer_mods: Sequence[Any] = (),
    inner_mods: Sequence[Any] = (),
    observer: AggregateObserver | None = None,
    num_cpus: int | None = None,
) -> FederatedRun:
    """Run (or resume, if ``out`` holds checkpoints) a federation in Flower's simulation engine.

    Parameters
    ----------
    partners
        partner name -> PreparedSet folder.
    progress
        ``fedqsar.progress.Progress``, called as ``progress("federated rounds", round, rounds)`` after every round.
    outer_mods, inner_mods
        Extra Flower client mods, outside / inside SecAgg+ (auditing, fault injection).
    observer
        Called with what the server-side strategy receives each round (auditing).
    num_cpus
        CPUs given to the simulation (default: all); each partner's ClientApp uses one.

    Raises
    ------
    FederationError
        Too few partners for SecAgg+, or a run that did not finish.
    IncompatiblePartnersError
        Partners whose PreparedSets may not be combined.
    CorruptArtefactError, ChecksumError
        A PreparedSet, checkpoint or private state of a resumed run that does not read back intact.
    """
    from flwr.server.superlink.fleet.vce.backend.backend import BackendConfig
    from flwr.simulation import run_simulation as flower_run_simulation

    partners = {name: Path(folder) for name, folder in partners.items()}
    precheck(partners, fed_cfg, model_cfg)
    out = Path(out)
    refuse_finished(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, cfg in (("federation", fed_cfg), ("model", model_cfg), ("train", train_cfg)):
        save_toml(cfg, out / f"{name}.toml")
    table = partner_table(partners, out)
    check_resumable(out, table)
    (out / SUMMARY_FILE).unlink(missing_ok=True)
    plan = ServerPlan(fed_cfg, model_cfg, train_cfg, out, len(partners), observer=observer, progress=progress)
    client_app = build_client_app(PartitionTable(table), outer_mods, inner_mods)
    server_app = build_server_app(lambda context: plan)
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")  # silences a Ray FutureWarning on stderr
    cpus = int(num_cpus or os.cpu_count() or 1)
    backend_config: BackendConfig = {
        "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
        "init_args": {
            "num_cpus": cpus,
            "num_gpus": 0,
            "logging_level": "ERROR",
            "log_to_driver": False,
            "include_dashboard": False,  # Ray keeps only its minimal API server; no dashboard UI
        },
    }
    with flower_logs_to(out / FLOWER_LOG), contained():  # no Ray process outlives the run, even on SIGKILL
        try:
            flower_run_simulation(
                server_app=server_app,
                client_app=client_app,
                num_supernodes=len(partners),
                backend_config=backend_config,
            )
        except RuntimeError as exc:
            cause = exc.__cause__
            if isinstance(cause, FedQSARError):  # raised by fedqsar's server logic inside Flower
                raise cause from exc
            raise FederationError(f"Flower simulation failed: {exc}", f"see {out / FLOWER_LOG}") from exc
        finally:
            _shutdown_ray()  # Flower does it too; a driver attached to a cluster the sentinel ends would be stale
    return collect_run(out, table)


def _shutdown_ray() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()


def collect_run(out: Path, table: Mapping[int, PartnerPaths]) -> FederatedRun:
    """Gather the server summary and every partner's local history after a run."""
    import json

    summary_path = out / SUMMARY_FILE
    if not summary_path.is_file():
        raise FederationError(f"the federation in {out} did not finish (no {SUMMARY_FILE})", f"see {out / FLOWER_LOG}")
    histories = [read_history(paths.state_dir) for paths in table.values()]
    history = pd.concat(histories, ignore_index=True) if histories else pd.DataFrame()
    history.to_csv(out / HISTORY_FILE, index=False)
    models = {paths.partner: paths.state_dir / MODEL_DIR for paths in table.values()}
    missing = [name for name, folder in models.items() if not folder.is_dir()]
    if missing:
        raise FederationError(f"partners {missing} did not store the final model", f"see {out / FLOWER_LOG}")
    selected = {paths.partner: selected_model(paths.state_dir) for paths in table.values()}
    personalised = {
        paths.partner: paths.state_dir / PERSONALISED_DIR
        for paths in table.values()
        if is_selection_folder(paths.state_dir / PERSONALISED_DIR)
    }
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    return FederatedRun(out, models, history, summary, selected, personalised)


@contextlib.contextmanager
def flower_logs_to(path: Path) -> Iterator[None]:
    """Send the ``flwr`` logger to ``path`` instead of the console while the block runs."""
    logger = logging.getLogger("flwr")
    saved = list(logger.handlers)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    for old in saved:
        logger.removeHandler(old)
    logger.addHandler(handler)
    fed_logger = logging.getLogger("fedqsar.federation")
    fed_logger.addHandler(handler)
    fed_logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        fed_logger.removeHandler(handler)
        handler.close()
        for old in saved:
            logger.addHandler(old)
