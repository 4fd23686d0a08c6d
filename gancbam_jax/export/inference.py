"""Score CT files with an exported detector: one CSV row per slice, optional heatmap PNGs, a summary.

  model = ExportedDetector.load("export/")
  summary = detect_files(model, list_inputs("new_scans/"), "scores.csv", heatmaps_dir="heatmaps/")

Each file goes through the preprocessing training used (decode, HU, window, resize, the
manifest's Min-Max statistics). A file that cannot be read, or holds values on another scale
than the model was trained on (a PNG for a model of DICOM files, say), gets a row with its error
and the run goes on. Rows carry the file's relative path, frame, SOPInstanceUID, score and
label, never the patient's name, ID or birth date.
"""

from __future__ import annotations

import csv
import dataclasses
import pathlib
import sys
import time
from typing import Sequence

import numpy as np
import tqdm

from gancbam_jax.data.decoded import SliceReadError
from gancbam_jax.data.preprocess import preprocess_frames
from gancbam_jax.data.readers import read_slices
from gancbam_jax.export.inputs import InputFile
from gancbam_jax.export.overlay import save_overlay
from gancbam_jax.export.runtime import ExportedDetector

COLUMNS = ("path", "frame", "sop_instance_uid", "score", "label", "error")


@dataclasses.dataclass(frozen=True)
class _Row:
  """One output row: a slice to score (image set) or a file that failed (error set)."""

  file: InputFile
  frame: int | None = None
  frames: int = 1
  sop_instance_uid: str = ""
  image: np.ndarray | None = None  # (S, S, 1), normalised
  error: str = ""


@dataclasses.dataclass(frozen=True)
class DetectionSummary:
  """What a detection run did: counts of files and slices, and its speed."""

  files: int
  failed_files: int
  slices: int
  flagged_slices: int
  flagged_files: int
  seconds: float

  @property
  def images_per_s(self) -> float:
    return self.slices / self.seconds if self.seconds > 0 else 0.0

  def line(self, flagged_label: str) -> str:
    return (f"scored {self.files - self.failed_files} of {self.files} files ({self.slices} slices) in "
            f"{self.seconds:.1f} s, {self.images_per_s:.1f} images/s; flagged {flagged_label}: {self.flagged_slices} "
            f"slices in {self.flagged_files} files; failed: {self.failed_files} files (see the error column)")


def _value_scale_refusal(kind: str, values: str, trained: tuple[str, ...]) -> str | None:
  """Why a file on value scale `values` cannot be scored by a model trained on `trained`, or None when it can."""
  if values in trained:
    return None
  return (f"a {kind} file of {values} values, but the model was trained on files of {' and '.join(trained)} values "
          "(the manifest's trained_on): its scores would mean nothing; score files of the kind it was trained on, "
          f"or train a model on {kind} files")


def _read_rows(file: InputFile, model: ExportedDetector) -> list[_Row]:
  """The file's slices, preprocessed as in training, or one error row saying why it cannot be scored."""
  if not file.path.is_file():
    return [_Row(file, error="file not found")]
  settings, normalization = model.preprocess, model.normalization
  try:
    decoded = read_slices(file.path, settings)
    refusal = _value_scale_refusal(decoded.kind, decoded.values, model.value_scales)
    if refusal:
      return [_Row(file, error=refusal)]
    images = normalization.apply(preprocess_frames(decoded.hu, settings))
  except SliceReadError as e:
    return [_Row(file, error=e.reason)]
  except Exception as e:  # One strange file must not end a run over thousands; its row says what happened.
    return [_Row(file, error=f"unexpected error while reading ({type(e).__name__}: {e})")]
  return [_Row(file, frame=k, frames=len(images), sop_instance_uid=decoded.sop_instance_uid or "", image=image)
          for k, image in enumerate(images)]


def heatmap_path(heatmaps_dir: pathlib.Path, name: str, frame: int, frames: int) -> pathlib.Path:
  """Where a slice's overlay goes: its file's relative path under `heatmaps_dir`, kept inside it."""
  parts = [("__" if part == ".." else part) for part in pathlib.PurePosixPath(name).parts if part != "/"]
  suffix = ".png" if frames == 1 else f".frame{frame:04d}.png"
  return heatmaps_dir.joinpath(*parts[:-1], parts[-1] + suffix)


class _RowWriter:
  """Scores buffered rows in batches and writes them in input order."""

  def __init__(self, model: ExportedDetector, writer, batch_size: int, heatmaps_dir: pathlib.Path | None):
    self.model, self.writer, self.batch_size, self.heatmaps_dir = model, writer, batch_size, heatmaps_dir
    self.pending: list[_Row] = []
    self.slices = 0
    self.flagged_slices = 0
    self.flagged_files: set[str] = set()

  def add(self, rows: list[_Row]) -> None:
    self.pending += rows
    if sum(row.image is not None for row in self.pending) >= self.batch_size:
      self.flush()

  def flush(self) -> None:
    slices = [row for row in self.pending if row.image is not None]
    scores, heatmaps = self.model.score(np.stack([row.image for row in slices]), self.batch_size) if slices else ((), ())
    scored = {id(row): (score, heatmap) for row, score, heatmap in zip(slices, scores, heatmaps)}
    for row in self.pending:
      if row.image is None:
        self.writer.writerow([row.file.name, "", "", "", "", row.error])
        continue
      score, heatmap = scored[id(row)]
      label, = self.model.labels([score])
      self.writer.writerow([row.file.name, row.frame, row.sop_instance_uid, f"{score:.6g}", label, ""])
      if score >= self.model.threshold:
        self.flagged_slices += 1
        self.flagged_files.add(row.file.name)
      if self.heatmaps_dir is not None:
        save_overlay(heatmap_path(self.heatmaps_dir, row.file.name, row.frame, row.frames), row.image[..., 0],
                     heatmap)
    self.slices += len(slices)
    self.pending = []


def detect_files(model: ExportedDetector, inputs: Sequence[InputFile], out_csv: str | pathlib.Path,
                 heatmaps_dir: str | pathlib.Path | None = None, batch_size: int = 64,
                 progress: bool = True) -> DetectionSummary:
  """Scores every slice of `inputs` and writes `out_csv` (and a PNG per slice under `heatmaps_dir`)."""
  if batch_size < 1:
    raise ValueError(f"batch size must be positive, got {batch_size}")
  out_csv = pathlib.Path(out_csv).expanduser().resolve()
  out_csv.parent.mkdir(parents=True, exist_ok=True)
  heatmaps_dir = None if heatmaps_dir is None else pathlib.Path(heatmaps_dir).expanduser().resolve()
  began = time.perf_counter()
  failed = 0
  with out_csv.open("w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(COLUMNS)
    rows = _RowWriter(model, writer, batch_size, heatmaps_dir)
    for file in tqdm.tqdm(inputs, desc="detect", unit="file", disable=not (progress and sys.stderr.isatty())):
      read = _read_rows(file, model)
      failed += read[0].image is None
      rows.add(read)
    rows.flush()
  return DetectionSummary(files=len(inputs), failed_files=failed, slices=rows.slices,
                          flagged_slices=rows.flagged_slices, flagged_files=len(rows.flagged_files),
                          seconds=time.perf_counter() - began)
