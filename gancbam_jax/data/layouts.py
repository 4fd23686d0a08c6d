"""Find the labelled files (DICOM, PNG/JPEG/TIFF images, NIfTI volumes) of a dataset laid out on disk.

Three layouts are understood:
- "kaggle": `overview.csv` + `dicom_dir/`, as in the Kaggle "CT Medical Images" download (and
  the built-in synthetic dataset). The label is one column compared with an anomalous value;
  on the Kaggle data the default, `Contrast == True`, is a proxy (the set has no disease labels).
- "csv": any CSV with a column of paths relative to the dataset root and a label column.
  Either table may name a patient column: rows of one patient share a split, whatever their
  files' own identifiers say (images and NIfTI volumes have none).
- "folders": one folder per class, searched recursively for files.
"auto" picks "kaggle" when `overview.csv` exists and "folders" otherwise.

Every listed path must stay inside the dataset root: absolute paths and `..` escapes are refused,
because a label table that reaches outside its dataset is either a mistake or an attack.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import pathlib
from typing import Sequence

NORMAL, ANOMALOUS = "normal", "anomalous"
KAGGLE_TABLE, KAGGLE_DICOM_DIR, KAGGLE_PATH_COLUMN = "overview.csv", "dicom_dir", "dicom_name"
LAYOUTS = ("auto", "kaggle", "csv", "folders")


class DatasetLayoutError(ValueError):
  """The dataset's files or label table do not describe a usable dataset."""


@dataclasses.dataclass(frozen=True)
class LabelledFile:
  """A file the layout lists, with its class index.

  Attributes:
    path: absolute path of the file.
    rel_path: path relative to the dataset root, as shown in reports and outputs.
    label: index into the layout's class names.
    patient_id: the label table's patient column for this file, or None (no column, or an empty cell).
  """

  path: pathlib.Path
  rel_path: str
  label: int
  patient_id: str | None = None


@dataclasses.dataclass(frozen=True)
class LayoutListing:
  """What a layout found: labelled files, class names, and files it could not use."""

  files: list[LabelledFile]
  class_names: tuple[str, ...]
  anomalous_class: str
  unusable: list[tuple[str, str]]  # (relative path, reason)


def resolve_inside(root: pathlib.Path, listed: str, where: str) -> pathlib.Path:
  """Returns root/listed, refusing absolute paths and paths that leave the root.

  Args:
    root: the dataset root (absolute).
    listed: a path as written in a label table.
    where: where the path was read (file and row), for the error message.
  """
  text = listed.strip().replace("\\", "/")
  if not text:
    raise DatasetLayoutError(f"{where}: empty path")
  if os.path.isabs(text) or pathlib.PurePosixPath(text).is_absolute() or pathlib.PureWindowsPath(text).drive:
    raise DatasetLayoutError(f"{where}: absolute path {listed!r}; list paths relative to the dataset root {root}")
  normalised = os.path.normpath(text)
  if normalised == ".." or normalised.startswith("../"):
    raise DatasetLayoutError(f"{where}: path {listed!r} leaves the dataset root {root}; "
                             "keep every listed file inside the root")
  return root / normalised


@dataclasses.dataclass(frozen=True)
class LayoutSpec:
  """How a dataset's files and labels are laid out (see the module docstring).

  Attributes:
    layout: one of LAYOUTS.
    table: for "csv", the label table's path relative to the root (or absolute).
    path_column: for "csv", the column of file paths ("kaggle" uses `dicom_name`).
    label_column: for "kaggle" and "csv", the column holding the label.
    anomalous_value: the label column's value that means anomalous (case-insensitive); every
      other value means normal.
    anomalous_class: for "folders", the folder name of the anomalous class.
    patient_column: for "kaggle" and "csv", the column naming each row's patient ("" for none).
  """

  layout: str = "auto"
  table: str = ""
  path_column: str = "path"
  label_column: str = "Contrast"
  anomalous_value: str = "True"
  anomalous_class: str = ANOMALOUS
  patient_column: str = ""


def list_labelled_files(root: str | os.PathLike, spec: LayoutSpec = LayoutSpec()) -> LayoutListing:
  """Lists the labelled files of the dataset at `root`, laid out as `spec` says."""
  root = pathlib.Path(root).expanduser()
  if not root.is_dir():
    raise DatasetLayoutError(f"dataset root {root} is not a directory; set data.root to the folder "
                             "that holds overview.csv and dicom_dir/ (or your class folders)")
  root = root.resolve()
  layout = spec.layout
  if layout not in LAYOUTS:
    raise DatasetLayoutError(f"data.layout must be one of {LAYOUTS}, got {layout!r}")
  if layout == "auto":
    layout = "kaggle" if (root / KAGGLE_TABLE).is_file() else "folders"
  if layout == "folders":
    if spec.patient_column:
      raise DatasetLayoutError(f"data.patient_column={spec.patient_column!r} needs a label table, but {root} uses the "
                               "folders layout; use data.layout='csv' with a table of path, label and patient")
    return _list_class_folders(root, spec.anomalous_class)
  if layout == "kaggle":
    return _list_label_table(root / KAGGLE_TABLE, root, root / KAGGLE_DICOM_DIR, KAGGLE_PATH_COLUMN, spec)
  if not spec.table:
    raise DatasetLayoutError("data.layout='csv' needs data.table, the label table's path")
  table_path = pathlib.Path(spec.table).expanduser()
  table_path = table_path if table_path.is_absolute() else root / table_path
  return _list_label_table(table_path, root, root, spec.path_column, spec)


def _list_label_table(table: pathlib.Path, root: pathlib.Path, files_dir: pathlib.Path, path_column: str,
                      spec: LayoutSpec) -> LayoutListing:
  """Reads a CSV of file names, labels and optionally patients; files resolve against `files_dir`."""
  label_column, anomalous_value, patient_column = spec.label_column, spec.anomalous_value, spec.patient_column
  if not table.is_file():
    raise DatasetLayoutError(f"label table {table} not found")
  with open(table, newline="", encoding="utf-8-sig") as f:
    reader = csv.DictReader(f)
    columns = reader.fieldnames or []
    wanted_columns = [(path_column, "path column"), (label_column, "data.label_column")]
    if patient_column:
      wanted_columns.append((patient_column, "data.patient_column"))
    for column, setting in wanted_columns:
      if column not in columns:
        raise DatasetLayoutError(f"{table}: no column {column!r} ({setting}); its columns are {columns}")
    rows = list(reader)
  if not rows:
    raise DatasetLayoutError(f"{table}: the table has no rows")
  values = sorted({row[label_column].strip() for row in rows})
  wanted = anomalous_value.strip().lower()
  if wanted not in {v.lower() for v in values}:
    raise DatasetLayoutError(f"{table}: no row has {label_column} == {anomalous_value!r}, so there would be "
                             f"no anomalous class; the column's values are {values} (set data.anomalous_value)")
  files, unusable = [], []
  for row_number, row in enumerate(rows, start=2):  # Row 1 is the header, as a spreadsheet shows it.
    where = f"{table.name} row {row_number}"
    path = resolve_inside(files_dir, row[path_column], where)
    rel_path = os.path.relpath(path, root)
    if not path.is_file():
      unusable.append((rel_path, f"listed in {where} but the file does not exist"))
      continue
    label = int(row[label_column].strip().lower() == wanted)
    patient = (row[patient_column] or "").strip() if patient_column else ""
    files.append(LabelledFile(path=path, rel_path=rel_path, label=label, patient_id=patient or None))
  listed = {f.path for f in files}
  if files_dir != root and files_dir.is_dir():
    # Files on disk but absent from the table have no label: report them, never drop them silently.
    for path in sorted(p for p in files_dir.rglob("*") if p.is_file()):
      if path not in listed:
        unusable.append((os.path.relpath(path, root), f"not listed in {table.name}, so it has no label"))
  return LayoutListing(files=files, class_names=(NORMAL, ANOMALOUS), anomalous_class=ANOMALOUS,
                       unusable=unusable)


def _list_class_folders(root: pathlib.Path, anomalous_class: str) -> LayoutListing:
  """One sub-folder per class; every file below it (recursively) belongs to that class."""
  class_names = tuple(sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")))
  if len(class_names) < 2:
    raise DatasetLayoutError(f"{root}: found class folders {list(class_names)}; the 'folders' layout needs "
                             "one sub-folder per class, at least two (or add overview.csv for the kaggle layout)")
  if anomalous_class not in class_names:
    raise DatasetLayoutError(f"{root}: no folder named {anomalous_class!r} (data.anomalous_class); "
                             f"class folders are {list(class_names)}")
  files = []
  for label, name in enumerate(class_names):
    for path in sorted(p for p in (root / name).rglob("*") if p.is_file() and not p.name.startswith(".")):
      files.append(LabelledFile(path=path, rel_path=os.path.relpath(path, root), label=label))
  return LayoutListing(files=files, class_names=class_names, anomalous_class=anomalous_class, unusable=[])


def class_counts(labels: Sequence[int], class_names: Sequence[str]) -> dict[str, int]:
  """Number of items per class name, every class listed (zero included)."""
  return {name: sum(1 for label in labels if label == i) for i, name in enumerate(class_names)}
