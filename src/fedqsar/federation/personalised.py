"""A partner's last step of a federated run: personalise locally, keep per task what wins.

Runs on the partner's machine when the final trunk arrives (``client_app``), sends nothing.
In the partner's state folder it reads

* the federated model the partner selected (``partner.selected_model``: its best round);
* ``local_model/``: its local-only model, trained here with the run's ``TrainConfig`` when
  absent or made from another PreparedSet (the evaluation protocol writes it beforehand so
  the local model is trained once);

and writes ``personalised/``: the per-task selection among local / federated / fine-tuned
(``model.personalise``) with ``selection.json``.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

from fedqsar.hashing import matches_recorded
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.io import load_model, save_model
from fedqsar.model.network import HeadSpec, MultitaskModel
from fedqsar.model.personalise import PersonalisationConfig, fine_tune, save_selection, select_per_task
from fedqsar.model.training import fit
from fedqsar.prepared import PreparedSet

LOCAL_DIR = "local_model"
PERSONALISED_DIR = "personalised"


def local_model(
    state_dir: Path, partner: str, prepared: PreparedSet, model_cfg: ModelConfig, train_cfg: TrainConfig
) -> MultitaskModel:
    """The partner's local-only model: ``state_dir/local_model`` if it was made from this PreparedSet, else trained."""
    folder = Path(state_dir) / LOCAL_DIR
    if (folder / "config.json").is_file():
        saved = load_model(folder)
        if matches_recorded(saved.manifest_hash, prepared.manifest.to_dict()) and saved.partner == partner:
            return saved.model
    heads = {partner: HeadSpec.from_tasks(prepared.tasks)}
    model = MultitaskModel(prepared.n_bits, model_cfg, heads, len(prepared.descriptor_names))
    fit(model, partner, prepared, train_cfg)
    save_local_model(folder, model, partner, prepared, model_cfg, train_cfg)
    return model


def save_local_model(
    folder: Path,
    model: MultitaskModel,
    partner: str,
    prepared: PreparedSet,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
) -> Path:
    """Write a local-only model where :func:`local_model` looks for it."""
    return save_model(folder, model, model_cfg, train_cfg, prepared.tasks, prepared.manifest, partner=partner)


def personalise(
    state_dir: Path,
    federated_folder: Path,
    prepared: PreparedSet,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    cfg: PersonalisationConfig,
) -> Path:
    """Fine-tune the federated model, select per task on validation, write ``state_dir/personalised``."""
    federated = load_model(federated_folder)
    partner = federated.partner
    candidates = {"federated": federated.model}
    if "fine_tuned" in cfg.candidates:
        tuned = copy.deepcopy(federated.model)
        fine_tune(tuned, partner, prepared, train_cfg, cfg)
        candidates["fine_tuned"] = tuned
    if "local" in cfg.candidates:
        candidates["local"] = local_model(state_dir, partner, prepared, model_cfg, train_cfg)
    candidates = {name: model for name, model in candidates.items() if name in cfg.candidates}
    validation_rows = prepared.rows_in([train_cfg.validation_fold])
    selection = select_per_task(candidates, partner, prepared, validation_rows, cfg.min_confidence)
    folder = Path(state_dir) / PERSONALISED_DIR
    if folder.is_dir():
        shutil.rmtree(folder)  # a re-run final step replaces the earlier selection

    def save_member(member_folder: Path, model: MultitaskModel) -> Path:
        return save_model(
            member_folder, model, model_cfg, train_cfg, prepared.tasks, prepared.manifest, partner=partner
        )

    return save_selection(folder, selection, save_member)
