"""Typed exceptions of fedqsar.

Every exception carries two parts: ``what`` went wrong and ``fix``, how to repair it.
The CLI prints both and exits with the exception's ``exit_code``; library code never
prints or exits.

Every error belongs to one of four families, each with its own exit code
(``EXIT_CODES``, shown by ``fedqsar --help``):

* :class:`InputError` (2) - a file, folder, option or configuration the user gave is
  missing, malformed or not allowed;
* :class:`CompatibilityError` (3) - things that are each fine do not fit together
  (partners prepared differently, a key that is not the model's, a model for other data);
* :class:`IntegrityError` (4) - a stored artefact is corrupt, truncated or was changed
  after it was written (checksums, hash chains);
* :class:`InternalError` (5) - a fedqsar bug: an invariant that the code itself must keep.

Exit code 1 is left to a command that ran but answers "no" (``manifest-diff`` finding a
blocking difference, ``prepare`` with no usable row).
"""

from __future__ import annotations

from pathlib import Path


class FedQSARError(Exception):
    """Base class of every error fedqsar raises on purpose.

    Parameters
    ----------
    what
        What was wrong, naming the offending file, column, key or value.
    fix
        What the user should do about it.
    """

    exit_code: int = 2
    family: str = "input"

    def __init__(self, what: str, fix: str = "") -> None:
        self.what = what
        self.fix = fix
        super().__init__(f"{what}\n  fix: {fix}" if fix else what)


# ----------------------------------------------------------------------------- families
class InputError(FedQSARError):
    """A file, folder, option or configuration given by the user is missing or malformed."""

    exit_code = 2
    family = "input"


class CompatibilityError(FedQSARError):
    """Inputs that are each valid do not fit together (other prep settings, key, model)."""

    exit_code = 3
    family = "compatibility"


class IntegrityError(FedQSARError):
    """A stored artefact is corrupt, truncated, or differs from the checksum recorded for it."""

    exit_code = 4
    family = "integrity"


class InternalError(FedQSARError):
    """An invariant fedqsar itself must keep was broken: a bug to report."""

    exit_code = 5
    family = "internal"


FAMILIES: tuple[type[FedQSARError], ...] = (InputError, CompatibilityError, IntegrityError, InternalError)
EXIT_CODES: dict[str, int] = {family.family: family.exit_code for family in FAMILIES}


# ------------------------------------------------------------------------------- input
class ConfigError(InputError):
    """A configuration file or value is invalid."""


class InputFileError(InputError):
    """An input file is missing, unreadable, empty or wrongly encoded."""


class InputSchemaError(InputError):
    """An input table lacks required columns or has misnamed ones."""


class EndpointResolutionError(InputSchemaError):
    """An assay or column does not resolve to exactly one endpoint (prepare asks, never guesses)."""


class KeyFileError(InputError):
    """A consortium key file is missing, malformed or of the wrong kind."""


class PreparedSetError(InputError):
    """A PreparedSet folder is missing files or its files disagree."""


class ModelFileError(InputError):
    """A saved model folder is missing or incomplete."""


class FederationError(InputError):
    """A federated run cannot start or continue."""


class DatasetError(InputError):
    """A public dataset cannot be found in the mirror or downloaded."""


class ReportError(InputError):
    """A run folder cannot be turned into a report: a required file is missing or malformed."""


class TrainingError(InputError):
    """Local training cannot run: no training rows, no observed labels, or non-finite loss."""


class LedgerClosedError(InputError):
    """An entry was appended to a ledger that already ends with ``run_end``."""


# ----------------------------------------------------------------------- compatibility
class IncompatiblePartnersError(CompatibilityError):
    """PreparedSets were prepared with settings or keys that forbid combining them.

    The one error of ``fedqsar.compatibility``: evaluation, the federation handshake and
    ``manifest-diff`` all raise it.
    """


class KeyMismatchError(CompatibilityError):
    """The consortium key given is not the key the model's training data was prepared with."""


class TrunkStateError(CompatibilityError):
    """Trunk arrays have other names or shapes than the model's trunk."""


class MalformedUpdateError(CompatibilityError):
    """A partner's update has wrong keys, shapes, non-finite values or an absurd norm."""


class UnsupportedFlowerError(CompatibilityError):
    """The installed Flower is not the version whose internals fedqsar patches (``federation.warm_exec``)."""


class ModelDataMismatchError(CompatibilityError):
    """A model does not fit the data it is given (fingerprint width, task kinds, prep settings)."""


# --------------------------------------------------------------------------- integrity
class CorruptArtefactError(IntegrityError):
    """A file fedqsar wrote earlier cannot be read back: truncated, overwritten or not the format.

    ``path`` names the file.
    """

    def __init__(self, path: Path | str, what: str, fix: str = "") -> None:
        self.path = Path(path)
        super().__init__(what, fix)


class ChecksumError(IntegrityError):
    """A file's sha256 differs from the one recorded (a dataset pin, a model's weights)."""


class LedgerIntegrityError(IntegrityError):
    """The run ledger has an edited, reordered or removed entry."""

    def __init__(self, what: str, fix: str = "", bad_seq: int | None = None) -> None:
        self.bad_seq = bad_seq
        super().__init__(what, fix)


# ---------------------------------------------------------------------------- internal
class AccountingError(InternalError):
    """An input row was counted twice or not at all (a bug in a preparation stage)."""
