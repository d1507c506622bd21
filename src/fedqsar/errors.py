"""Typed exceptions of fedqsar.

Every exception carries two parts: ``what`` went wrong and ``fix``, how to repair it.
The CLI prints both and exits with the exception's ``exit_code``; library code never
prints or exits.
"""

from __future__ import annotations


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

    def __init__(self, what: str, fix: str = "") -> None:
        self.what = what
        self.fix = fix
        super().__init__(f"{what}\n  fix: {fix}" if fix else what)


class ConfigError(FedQSARError):
    """A configuration file or value is invalid."""


class InputFileError(FedQSARError):
    """An input file is missing, unreadable, empty or wrongly encoded."""


class InputSchemaError(FedQSARError):
    """An input table lacks required columns or has misnamed ones."""


class KeyFileError(FedQSARError):
    """A consortium key file is missing, malformed or of the wrong kind."""


class PreparedSetError(FedQSARError):
    """A PreparedSet folder is missing files or its files disagree."""


class ManifestMismatchError(FedQSARError):
    """Two PreparedSets were prepared with different settings and cannot be combined."""


class ModelFileError(FedQSARError):
    """A saved model folder is missing, corrupt or was trained for other data."""


class FederationError(FedQSARError):
    """A federated run cannot start or continue."""


class MalformedUpdateError(FederationError):
    """A partner's update has wrong keys, shapes, non-finite values or an absurd norm."""


class DatasetError(FedQSARError):
    """A public dataset cannot be found in the mirror or downloaded."""


class ChecksumError(DatasetError):
    """A dataset file's sha256 differs from the pinned one."""


class LedgerIntegrityError(FedQSARError):
    """The run ledger has an edited, reordered or removed entry."""


class LedgerClosedError(FedQSARError):
    """An entry was appended to a ledger that already ends with ``run_end``."""


class ReportError(FedQSARError):
    """A run folder cannot be turned into a report: a required file is missing or malformed."""


class TrunkStateError(FedQSARError):
    """Trunk arrays have other names or shapes than the model's trunk."""


class TrainingError(FedQSARError):
    """Local training cannot run: no training rows, no observed labels, or non-finite loss."""


class AccountingError(FedQSARError):
    """An input row was counted twice or not at all (a bug in a preparation stage)."""


class IncompatiblePartnersError(FederationError):
    """Partners' PreparedSets were prepared with different settings or keys; they cannot federate."""
