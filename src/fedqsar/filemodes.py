"""File modes of what holds a partner's structures, ids or values: folders 0700, files 0600.

A PreparedSet (fingerprints, labels, compound ids, ``rejected.csv`` with SMILES and values),
a model folder (weights fitted on the partner's data, trust artefacts with its training
fingerprints and calibration values) and a partner's private federation state are written
into a folder made 0700 *before* anything goes in, so no other user can open a file even
while it is being written; ``seal`` then sets every file 0600. One helper for every writer.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_folder(folder: Path) -> Path:
    """Create ``folder`` (and missing parents) and make it 0700; returns it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, PRIVATE_DIR_MODE)
    return folder


def seal(path: Path) -> Path:
    """Make ``path`` private: a file 0600; a folder 0700 with everything under it 0700 / 0600."""
    path = Path(path)
    if path.is_file():
        os.chmod(path, PRIVATE_FILE_MODE)
        return path
    os.chmod(path, PRIVATE_DIR_MODE)
    for root, dirs, files in os.walk(path):
        for name in dirs:
            os.chmod(Path(root) / name, PRIVATE_DIR_MODE)
        for name in files:
            os.chmod(Path(root) / name, PRIVATE_FILE_MODE)
    return path
