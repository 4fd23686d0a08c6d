"""The files launch/detect.py scores: one CT file, a directory (recursively), or a CSV listing paths.

A CT file is DICOM, a PNG/JPEG/TIFF image or a NIfTI volume, told apart by content. Every regular
file found is listed, whatever its name: real DICOM files often have no extension, and a file that
is none of these gets an error row in the output rather than vanishing.
"""

from __future__ import annotations

import csv
import dataclasses
import pathlib

CSV_PATH_COLUMN = "path"


class InputError(ValueError):
  """An input path or CSV that cannot be listed; the message names it and the fix."""


@dataclasses.dataclass(frozen=True)
class InputFile:
  """A file to score and the name outputs give it.

  Attributes:
    path: the absolute path read.
    name: relative to the input directory, as listed in the CSV, or the file's name.
  """

  path: pathlib.Path
  name: str


def _list_csv(table: pathlib.Path) -> list[InputFile]:
  files = []
  with table.open(newline="") as f:
    reader = csv.DictReader(f)
    columns = reader.fieldnames or []
    if CSV_PATH_COLUMN not in columns:
      raise InputError(f"{table} has no {CSV_PATH_COLUMN!r} column (columns: {columns}); list one CT file's path per "
                       f"row under a header {CSV_PATH_COLUMN!r}")
    for row in reader:
      listed = (row[CSV_PATH_COLUMN] or "").strip()
      if not listed:
        raise InputError(f"{table}, line {reader.line_num}: empty {CSV_PATH_COLUMN!r}; give every row a path or "
                         "remove it")
      # Relative paths are relative to the CSV, so a listing travels with the files it lists.
      files.append(InputFile(path=(table.parent / listed).resolve(), name=listed))
  return files


def list_inputs(input_path: str | pathlib.Path) -> list[InputFile]:
  """The files to score, in a stable order (sorted within a directory, CSV order for a CSV).

  Raises:
    InputError: the path does not exist, a directory holds no files, or the CSV has no 'path' column or
      an empty path.
  """
  root = pathlib.Path(input_path).expanduser().resolve()
  if root.is_dir():
    files = [InputFile(path=p, name=p.relative_to(root).as_posix()) for p in sorted(root.rglob("*")) if p.is_file()]
    if not files:
      raise InputError(f"{root} holds no files; point --input at the directory of the CT files")
    return files
  if root.is_file():
    if root.suffix.lower() == ".csv":
      return _list_csv(root)
    return [InputFile(path=root, name=root.name)]
  raise InputError(f"{root} does not exist; --input takes a CT file (DICOM, PNG/JPEG/TIFF, NIfTI), a directory of them or a CSV with a "
                   f"{CSV_PATH_COLUMN!r} column")
