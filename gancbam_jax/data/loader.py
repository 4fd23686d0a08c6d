"""Load a CT dataset: list files, decode them in parallel into the cache, report what happened.

`load_ct_dataset` returns a `CtDataset`: one record per slice (multi-frame DICOM, multi-page TIFF
and NIfTI volumes give several) with its label and patient, backed by the on-disk cache, so
arrays are read when asked for and a dataset larger than memory can be streamed in batches. Files that cannot be used are skipped with
their reason in the load report (or stop the load in strict mode): nothing is dropped silently,
and a long run never dies on one bad file.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import itertools
import multiprocessing
import os
import pathlib
import sys
import time
from typing import Iterator, Sequence

import numpy as np
import tqdm

from gancbam_jax.data import layouts
from gancbam_jax.data.cache import CachedSlices, DigestIndex, SliceCache, content_hash, resolve_cache_dir
from gancbam_jax.data.decoded import SliceReadError
from gancbam_jax.data.preprocess import PreprocessSettings, preprocess_frames
from gancbam_jax.data.readers import input_name, read_slices

# Starting spawned workers costs about a second (interpreter, NumPy, pydicom), so the loader
# times a few files first and starts workers only when the serial work left is well above that.
_POOL_STARTUP_S = 1.0
_PROBE_FILES = 8
UNEXPECTED_ERROR = "unexpected error"  # how the reason of a file that failed outside the reader's checks starts


@dataclasses.dataclass(frozen=True)
class SliceRecord:
  """One slice of the dataset.

  Attributes:
    rel_path: the file's path relative to the dataset root.
    frame: frame index within the file (0 for single-frame files; the axial slice of a volume).
    label: class index.
    patient_id: the label table's patient column where it has one, else the DICOM PatientID, else
      `file:<rel_path>` (a NIfTI volume is its own patient).
    sop_instance_uid: DICOM SOPInstanceUID, or None.
    cache_file: absolute path of the cached arrays of the file.
  """

  rel_path: str
  frame: int
  label: int
  patient_id: str
  sop_instance_uid: str | None
  cache_file: str


@dataclasses.dataclass
class LoadReport:
  """What loading found: the contract of `launch/inspect_data.py --json`.

  `unexpected_errors` counts the skipped files that the reader did not refuse with a reason of
  its own but that failed anyway (a last resort, so that one file never ends a long run): each is
  a gap in the reader, and stands out in the report. `inputs` counts the files read per kind,
  e.g. {"DICOM (HU)": 100}, and `value_scales` what their values were ("HU", "8-bit", ...): a
  model trained on one scale cannot score another. `unselected_slices` counts the slices of
  multi-slice files that `data.slice_selection` left out.
  """

  loaded: int
  skipped: list[dict[str, str]]
  classes: dict[str, int]
  patients: int
  files_without_patient_id: int
  decoded_files: int
  cached_files: int
  unexpected_errors: int = 0
  inputs: dict[str, int] = dataclasses.field(default_factory=dict)
  value_scales: list[str] = dataclasses.field(default_factory=list)
  unselected_slices: int = 0

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class CtDataset:
  """Preprocessed slices of a dataset, their labels and patients, backed by the slice cache."""

  records: tuple[SliceRecord, ...]
  class_names: tuple[str, ...]
  anomalous_class: str
  settings: PreprocessSettings
  root: str
  report: LoadReport

  def __len__(self) -> int:
    return len(self.records)

  @property
  def labels(self) -> np.ndarray:
    return np.array([r.label for r in self.records], dtype=np.int32)

  @property
  def patient_ids(self) -> np.ndarray:
    return np.array([r.patient_id for r in self.records], dtype=object)

  @property
  def anomalous_index(self) -> int:
    return self.class_names.index(self.anomalous_class)

  def images(self, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """Slices as one float32 array (N, size, size, channels) in windowed HU, in the order of `indices`."""
    indices = range(len(self.records)) if indices is None else indices
    size = self.settings.image_size
    out = np.empty((len(indices), size, size, self.settings.channels), dtype=np.float32)
    opened: dict[str, np.ndarray] = {}
    for row, i in enumerate(indices):
      record = self.records[int(i)]
      if record.cache_file not in opened:
        with np.load(record.cache_file, allow_pickle=False) as entry:
          opened[record.cache_file] = entry["pixels"]
      out[row] = opened[record.cache_file][record.frame]
    return out

  def iter_batches(self, indices: Sequence[int] | np.ndarray, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Streams (images, labels) in batches, holding one batch in memory at a time."""
    indices = np.asarray(indices)
    labels = self.labels
    for start in range(0, len(indices), batch_size):
      chunk = indices[start:start + batch_size]
      yield self.images(chunk), labels[chunk]


@dataclasses.dataclass(frozen=True)
class _PreparedFile:
  """Where a file's slices are cached and what the pipeline needs to know of it."""

  cache_file: str
  digest: str
  n_frames: int
  patient_id: str | None
  sop_instance_uid: str | None
  was_cached: bool
  input: str  # readers.input_name of the file
  values: str  # CtSlices.values


def _prepared(cache: SliceCache, digest: str, entry: CachedSlices, was_cached: bool) -> _PreparedFile:
  return _PreparedFile(cache_file=str(cache.path_for(digest)), digest=digest, n_frames=len(entry.pixels),
                       patient_id=entry.patient_id, sop_instance_uid=entry.sop_instance_uid, was_cached=was_cached,
                       input=input_name(entry.kind, entry.values, entry.colour), values=entry.values)


def _prepare_file(path: str, cache_dir: str, settings: PreprocessSettings) -> _PreparedFile | str:
  """Ensures one file is in the cache; returns what was prepared, or the reason it cannot be used.

  Runs in worker processes, so it returns plain data rather than raising.
  """
  try:
    data = pathlib.Path(path).read_bytes()
    digest = content_hash(data)
    cache = SliceCache(cache_dir, settings)
    entry = cache.load(digest)
    if entry is not None:
      return _prepared(cache, digest, entry, was_cached=True)
    decoded = read_slices(path, settings, data=data)
    pixels = preprocess_frames(decoded.hu, settings)
    entry = CachedSlices(pixels=pixels, patient_id=decoded.patient_id, sop_instance_uid=decoded.sop_instance_uid,
                         kind=decoded.kind, values=decoded.values, colour=decoded.colour)
    cache.store(digest, entry)
    return _prepared(cache, digest, entry, was_cached=False)
  except SliceReadError as e:
    return e.reason
  except Exception as e:  # One strange file must not end a run over thousands; its reason is kept.
    return (f"{UNEXPECTED_ERROR} while loading ({type(e).__name__}: {e}); the reader should have refused this "
            "file with a reason: please report it, with the file if you can share it")


def _prepare_in_workers(paths: list[str], cache_dir: str, settings: PreprocessSettings,
                        workers: int) -> Iterator[_PreparedFile | str]:
  """`_prepare_file` over `paths` in worker processes, results in the order of `paths`."""
  # Spawned, not forked: forking a process that has started JAX's threads can deadlock.
  context = multiprocessing.get_context("spawn")
  with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
    yield from pool.map(_prepare_file, paths, itertools.repeat(cache_dir), itertools.repeat(settings))


def _prepare_all(paths: list[str], cache_dir: str, settings: PreprocessSettings, num_workers: int,
                 progress: bool) -> list[_PreparedFile | str]:
  """Prepares every file: unchanged cached files straight from the digest index, the rest in workers."""
  cache, index = SliceCache(cache_dir, settings), DigestIndex(cache_dir)
  results: list[_PreparedFile | str | None] = [None] * len(paths)
  for i, path in enumerate(paths):
    digest = index.lookup(path)
    entry = cache.load(digest) if digest else None
    if entry is not None:
      results[i] = _prepared(cache, digest, entry, was_cached=True)
  todo = [i for i, result in enumerate(results) if result is None]
  bar = tqdm.tqdm(total=len(todo), desc="decode DICOM", unit="file", disable=not (progress and sys.stderr.isatty()))

  def prepare(indices: list[int], prepared: Iterator[_PreparedFile | str]) -> None:
    for i, result in zip(indices, prepared):
      results[i] = result
      bar.update()

  with bar:
    probe, rest = todo[:_PROBE_FILES], todo[_PROBE_FILES:]
    start = time.perf_counter()
    prepare(probe, (_prepare_file(paths[i], cache_dir, settings) for i in probe))
    serial_seconds_left = (time.perf_counter() - start) / max(1, len(probe)) * len(rest)
    workers = min(num_workers, len(rest))
    if workers > 1 and serial_seconds_left > 2 * _POOL_STARTUP_S:
      prepare(rest, _prepare_in_workers([paths[i] for i in rest], cache_dir, settings, workers))
    else:
      prepare(rest, (_prepare_file(paths[i], cache_dir, settings) for i in rest))
  for path, result in zip(paths, results):
    if isinstance(result, _PreparedFile):
      index.remember(path, result.digest)
  index.save()
  return results


def load_ct_dataset(
    root: str | os.PathLike,
    *,
    layout: layouts.LayoutSpec = layouts.LayoutSpec(),
    settings: PreprocessSettings = PreprocessSettings(),
    cache_dir: str | os.PathLike | None = None,
    num_workers: int = 0,
    strict: bool = False,
    require_every_class: bool = True,
    progress: bool = True,
    slice_selection: slice = slice(None),
) -> CtDataset:
  """Lists, decodes (in parallel, through the cache) and labels every slice of a dataset.

  Args:
    root: dataset root.
    layout: where the files are and how they are labelled.
    settings: preprocessing (HU window, size, multi-frame policy, accepted modalities).
    cache_dir: where preprocessed arrays are kept; default `resolve_cache_dir()`.
    num_workers: decoding processes; 0 means one per CPU core.
    strict: raise on the first unusable file instead of skipping it with a reason.
    require_every_class: raise when a class ends up with no slices.
    progress: show a progress bar when stderr is a terminal.
    slice_selection: which frames of a multi-slice file become records (all by default); a file
      with one slice always gives it.

  Raises:
    DatasetLayoutError: the layout is unusable, a class is empty, or (strict) a file is unusable.
  """
  listing = layouts.list_labelled_files(root, layout)
  cache_dir = resolve_cache_dir(cache_dir)
  num_workers = num_workers or os.cpu_count() or 1
  results = _prepare_all([str(f.path) for f in listing.files], str(cache_dir), settings, num_workers, progress)

  skipped = [{"path": rel, "reason": reason} for rel, reason in listing.unusable]
  records: list[SliceRecord] = []
  decoded = cached = without_patient = unselected = 0
  inputs: collections.Counter[str] = collections.Counter()
  value_scales: set[str] = set()
  for item, result in zip(listing.files, results):
    if isinstance(result, str):
      skipped.append({"path": item.rel_path, "reason": result})
      continue
    cached += result.was_cached
    decoded += not result.was_cached
    inputs[result.input] += 1
    value_scales.add(result.values)
    patient_id = item.patient_id or result.patient_id
    if patient_id is None:
      # Without a PatientID the file is its own group, so grouping cannot leak it, but slices of one
      # real patient could then straddle splits: the report counts such files so users can see it.
      without_patient += 1
      patient_id = f"file:{item.rel_path}"
    frames = range(result.n_frames)[slice_selection] if result.n_frames > 1 else range(1)
    unselected += result.n_frames - len(frames)
    records.extend(SliceRecord(rel_path=item.rel_path, frame=frame, label=item.label, patient_id=patient_id,
                               sop_instance_uid=result.sop_instance_uid, cache_file=result.cache_file)
                   for frame in frames)

  if strict and skipped:
    first = skipped[0]
    raise layouts.DatasetLayoutError(f"{first['path']}: {first['reason']} (strict mode; {len(skipped)} file(s) "
                                     "unusable in all; set data.strict=False to skip them with a report)")
  counts = layouts.class_counts([r.label for r in records], listing.class_names)
  report = LoadReport(loaded=len(records), skipped=skipped, classes=counts,
                      patients=len({r.patient_id for r in records}), files_without_patient_id=without_patient,
                      decoded_files=decoded, cached_files=cached,
                      unexpected_errors=sum(entry["reason"].startswith(UNEXPECTED_ERROR) for entry in skipped),
                      inputs=dict(sorted(inputs.items())), value_scales=sorted(value_scales),
                      unselected_slices=unselected)
  empty = [name for name, count in counts.items() if count == 0]
  if require_every_class and empty:
    common = collections.Counter(entry["reason"] for entry in skipped).most_common(1)
    because = f"; the most common reason, for {common[0][1]} of them: {common[0][0]}" if common else ""
    raise layouts.DatasetLayoutError(f"{root}: class(es) {empty} have no usable slices ({len(skipped)} file(s) "
                                     f"skipped{because}; see the load report from launch/inspect_data.py); check "
                                     "the label column and anomalous value")
  return CtDataset(records=tuple(records), class_names=listing.class_names, anomalous_class=listing.anomalous_class,
                   settings=settings, root=str(pathlib.Path(root).expanduser().resolve()), report=report)
