"""Reading raw partner files into string DataFrames, with clear errors.

Only file mechanics live here (encodings, compression, CSV / Parquet / SDF, malformed
lines); which columns a table must have is ``prep.schema``'s business.

Every reader returns cells as they were written (strings, or the Parquet value), with
column names stripped of whitespace and of a UTF-8 byte order mark, so that parsing
(and counting unparsable cells as rejects) happens in the values stage.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from fedqsar.errors import InputFileError

CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
SDF_SUFFIXES = (".sdf", ".sdf.gz", ".sd")
SUPPORTED = CSV_SUFFIXES + PARQUET_SUFFIXES + SDF_SUFFIXES
MALFORMED_LINE = "__malformed_line__"  # column holding the raw text of a line with too many fields
MOLBLOCK_ERROR = "__molblock_error__"  # column set to True for SDF records RDKit cannot read
RECORD = "__record__"  # SD files: "SD record <n>", the record's position (for rejected.csv)


def file_kind(path: Path) -> str:
    """``"csv"``, ``"parquet"`` or ``"sdf"`` from the file name.

    Raises
    ------
    InputFileError
        If the suffix is none of :data:`SUPPORTED`.
    """
    name = path.name.lower()
    for kind, suffixes in (("csv", CSV_SUFFIXES), ("parquet", PARQUET_SUFFIXES), ("sdf", SDF_SUFFIXES)):
        if name.endswith(suffixes):
            return kind
    raise InputFileError(
        f"{path}: unsupported file type",
        f"give a file ending in one of {', '.join(SUPPORTED)}",
    )


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise InputFileError(f"{path} does not exist", "check the path (and the working directory)")
    if not path.is_file():
        raise InputFileError(f"{path} is not a file", "give a file, or a folder of TUNER files")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise InputFileError(f"{path} cannot be read: {exc.strerror or exc}", "check the file's permissions") from exc
    if path.stat().st_size == 0:
        raise InputFileError(f"{path} is empty (0 bytes)", "export the table again; it must have a header and rows")


def read_text(path: Path) -> str:
    """The whole file as text (UTF-8, BOM removed; ``.gz`` decompressed).

    Raises
    ------
    InputFileError
        If the file is missing, unreadable, not gzip although named so, or not UTF-8.
    """
    _check_readable(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.name.lower().endswith(".gz") else path.read_bytes()
    except (OSError, EOFError) as exc:
        raise InputFileError(f"{path} is not a valid gzip file: {exc}", "decompress it or fix the name") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"{path} is not UTF-8 text (byte {exc.start}: {raw[exc.start : exc.start + 1]!r})",
            "re-save the file as UTF-8 (e.g. in Excel: 'CSV UTF-8'; or `iconv -f latin1 -t utf-8`)",
        ) from exc


def _clean_columns(frame: pd.DataFrame) -> pd.DataFrame:
    frame.columns = [str(c).replace("\ufeff", "").strip() for c in frame.columns]
    return frame


def read_csv(path: Path) -> pd.DataFrame:
    """Read a delimited text file with every cell as a string (empty cells -> NaN).

    The delimiter is sniffed (comma, tab, semicolon). Lines with more fields than the
    header are not fatal: they come back (after the well-formed rows) with their first fields
    in the header's columns, as read, and the whole raw line in :data:`MALFORMED_LINE`, so
    that the caller can reject them with a reason and keep what they said.

    Raises
    ------
    InputFileError
        Empty file, no data rows, wrong encoding, unreadable.
    """
    text = read_text(path)
    if not text.strip():
        raise InputFileError(f"{path} has no content (only whitespace)", "export the table again")
    sep = _sniff_delimiter(text, path)
    options = dict(sep=sep, dtype=str, keep_default_na=False, na_values=[""], skipinitialspace=False)
    try:
        frame = pd.read_csv(io.StringIO(text), **options)
    except pd.errors.ParserError:
        frame = _read_csv_tolerant(text, options)
    except pd.errors.EmptyDataError as exc:
        raise InputFileError(f"{path} has no header line", "the first line must name the columns") from exc
    frame = _clean_columns(frame)
    if len(frame) == 0:
        raise InputFileError(f"{path} has a header but no data rows", "the table must contain at least one row")
    return frame


def _sniff_delimiter(text: str, path: Path) -> str:
    header = text.splitlines()[0]
    if path.name.lower().endswith((".tsv", ".tsv.gz")):
        return "\t"
    counts = {sep: header.count(sep) for sep in (",", "\t", ";")}
    best = max(counts, key=lambda s: counts[s])
    return best if counts[best] > 0 else ","


def _read_csv_tolerant(text: str, options: dict) -> pd.DataFrame:
    bad: list[list[str]] = []

    def keep(fields: list[str]) -> None:
        bad.append(fields)
        return None

    frame = pd.read_csv(io.StringIO(text), engine="python", on_bad_lines=keep, **options)
    if bad:
        header = list(frame.columns)
        extra = pd.DataFrame(
            [
                {**dict(zip(header, fields, strict=False)), MALFORMED_LINE: options["sep"].join(fields)}
                for fields in bad
            ],
            dtype=object,
        )
        frame = pd.concat([frame.astype(object), extra], ignore_index=True)
    return frame


def read_parquet(path: Path) -> pd.DataFrame:
    """Read a Parquet file; columns keep their stored types (values parsed later)."""
    _check_readable(path)
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
        raise InputFileError(
            f"{path} is not a readable Parquet file: {exc}", "write it again with pandas/pyarrow"
        ) from exc
    frame = _clean_columns(frame)
    if len(frame) == 0:
        raise InputFileError(f"{path} has no rows", "the table must contain at least one row")
    return frame


def read_sdf(path: Path) -> pd.DataFrame:
    """Read an SD file: one row per record, its properties as string columns.

    Columns: every SD property seen, ``_Name`` (the title line), ``smiles`` (RDKit canonical
    SMILES of the record's molecule, unless a ``smiles`` property is present) and
    :data:`RECORD` ("SD record <n>"). Properties are read from the record's text, so a record
    RDKit cannot parse keeps its title and properties; it comes back with
    :data:`MOLBLOCK_ERROR` True (it is counted and rejected, never dropped).
    """
    from rdkit import rdBase

    text = read_text(path)
    if "$$$$" not in text and "M  END" not in text:
        raise InputFileError(f"{path} contains no SD records", "give an SD file (records end with $$$$)")
    blocks = [b for b in re.split(r"^\$\$\$\$[ \t]*$\n?", text.replace("\r\n", "\n"), flags=re.M) if b.strip()]
    with rdBase.BlockLogs():
        records = [_record(block, number) for number, block in enumerate(blocks, start=1)]
    if not records:
        raise InputFileError(f"{path} has no SD records", "the SD file must contain at least one molecule")
    frame = pd.DataFrame.from_records(records).astype(object)
    frame[MOLBLOCK_ERROR] = frame[MOLBLOCK_ERROR].fillna(False).astype(bool)
    return _clean_columns(frame.replace({"": np.nan}))


_PROPERTY = re.compile(r"^>.*?<([^>]+)>")


def _record(block: str, number: int) -> dict[str, object]:
    """Title, properties (as written: "007" stays "007"), SMILES and parse status of one record."""
    from rdkit import Chem

    lines = block.split("\n")
    end = next((i for i, line in enumerate(lines) if line.startswith("M  END")), None)
    props: dict[str, object] = {"_Name": lines[0].strip() if lines else "", RECORD: f"SD record {number}"}
    name: str | None = None
    values: list[str] = []
    for line in lines[(end + 1) if end is not None else len(lines) :]:
        match = _PROPERTY.match(line)
        if match:
            name, values = match.group(1).strip(), []
            props[name] = ""
        elif name is not None and line.strip():
            values.append(line.rstrip())
            props[name] = "\n".join(values)
        elif name is not None:
            name = None
    mol = Chem.MolFromMolBlock("\n".join(lines[: end + 1]), sanitize=True, removeHs=False) if end is not None else None
    if mol is not None and not any(str(k).strip().lower() == "smiles" for k in props):
        props["smiles"] = Chem.MolToSmiles(mol)
    props[MOLBLOCK_ERROR] = mol is None
    return props


def read_table(path: Path) -> pd.DataFrame:
    """Read any supported file into a DataFrame (see :func:`file_kind`)."""
    path = Path(path)
    kind = file_kind(path)
    return {"csv": read_csv, "parquet": read_parquet, "sdf": read_sdf}[kind](path)


def read_header(path: Path) -> list[str]:
    """Column names of a CSV file (cleaned), reading only its first line."""
    text_head = _first_line(path)
    sep = _sniff_delimiter(text_head, path)
    return [c.replace("\ufeff", "").strip() for c in next(csv.reader([text_head], delimiter=sep))]


def _first_line(path: Path) -> str:
    _check_readable(path)
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            line = handle.readline()
    except (OSError, EOFError) as exc:
        raise InputFileError(f"{path} cannot be read: {exc}", "check the file") from exc
    try:
        return line.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{path} is not UTF-8 text", "re-save the file as UTF-8") from exc
