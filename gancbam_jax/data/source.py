"""Load the dataset a config names: the built-in synthetic CT set or a directory on disk."""

from __future__ import annotations

import dataclasses
import pathlib

import filelock
import ml_collections

from gancbam_jax.data import layouts
from gancbam_jax.data.cache import resolve_cache_dir
from gancbam_jax.data.loader import CtDataset, load_ct_dataset
from gancbam_jax.data.preprocess import PreprocessSettings

SOURCES = ("phantom", "directory")


def preprocess_settings(data: ml_collections.ConfigDict) -> PreprocessSettings:
  """The preprocessing part of a data config; strict mode refuses colour images instead of converting them."""
  windows = tuple(tuple(float(v) for v in window) for window in data.hu_windows)
  rescale = tuple(float(v) for v in data.image_rescale) if data.image_rescale else None
  return PreprocessSettings(hu_windows=windows, image_size=int(data.image_size),
                            multiframe=data.multiframe, modalities=tuple(data.modalities),
                            max_pixel_mib=float(data.max_pixel_mib), image_rescale=rescale,
                            colour_to_gray=not data.strict)


def parse_slice_selection(text: str) -> slice:
  """`data.slice_selection` as a slice: Python's start:stop:step, e.g. ":" (all), "::4", "40:120".

  Raises:
    ValueError: not of that form, or a step that is not positive.
  """
  parts = text.strip().split(":")
  try:
    if len(parts) not in (2, 3):
      raise ValueError
    start, stop, step = (int(part) if part.strip() else None for part in (parts + [""])[:3])
  except ValueError:
    raise ValueError(f"{text!r} is not start:stop[:step]; use ':' for every slice of a volume, '::4' for every 4th, "
                     "'40:120' for a range") from None
  if step is not None and step < 1:
    raise ValueError(f"{text!r} has step {step}; the step must be positive")
  return slice(start, stop, step)


def dataset_root(data: ml_collections.ConfigDict) -> pathlib.Path:
  """The dataset's directory; for "phantom", generated into the cache the first time."""
  if data.source not in SOURCES:
    raise layouts.DatasetLayoutError(f"data.source must be one of {SOURCES}, got {data.source!r}")
  if data.source == "directory":
    if not data.root:
      raise layouts.DatasetLayoutError("data.source='directory' needs data.root, e.g. "
                                       "--config.data.root=/path/to/siim-medical-images")
    return pathlib.Path(data.root).expanduser().resolve()
  from gancbam_jax.data import phantom  # Only phantom users pay for importing the generator.

  spec = data.phantom
  name = f"{phantom_name(spec)}-n{spec.n}-seed{spec.seed}-v{phantom.GENERATOR_VERSION}"
  root = resolve_cache_dir(data.cache_dir) / "phantom" / name
  root.parent.mkdir(parents=True, exist_ok=True)
  # The processes of a multi-process job (and parallel runs sharing a cache) generate it once: the
  # others wait, where writing together each would replace what the other is writing.
  with filelock.FileLock(f"{root}.lock"):
    if not (root / layouts.KAGGLE_TABLE).is_file():
      phantom.write_dataset(root, n=spec.n, seed=spec.seed, preset=phantom_parameters(spec))
  return root


def _fixed_properties(spec: ml_collections.ConfigDict) -> list[tuple[str, float, str]]:
  """(short name, value, unit) of each property a sweep fixes or scales, in a stable order."""
  fixed = []
  if spec.noise_hu:
    fixed.append(("noise", spec.noise_hu, "HU"))
  if spec.lesion_diameter_mm:
    fixed.append(("diameter", spec.lesion_diameter_mm, "mm"))
  if spec.contrast_scale != 1.0:
    fixed.append(("contrast", spec.contrast_scale, "x"))
  return fixed


def phantom_name(spec: ml_collections.ConfigDict) -> str:
  """The preset's name plus each fixed property, e.g. 'medium' or 'medium-noise30HU-diameter8mm'."""
  return "-".join([spec.preset, *(f"{name}{value:g}{unit}" for name, value, unit in _fixed_properties(spec))])


def phantom_parameters(spec: ml_collections.ConfigDict):
  """The preset's PhantomConfig with the sweep's fixed noise, lesion diameter and contrast scale applied.

  Raises:
    ValueError: a value the generator cannot use (PhantomConfig names the field).
  """
  from gancbam_jax.data import phantom  # Only phantom users pay for importing the generator.

  config = phantom.resolve_config(spec.preset)
  changes = {}
  if spec.noise_hu:
    changes["noise_hu"] = (spec.noise_hu, spec.noise_hu)
  if spec.lesion_diameter_mm:
    changes["lesion_diameter_mm"] = (spec.lesion_diameter_mm, spec.lesion_diameter_mm)
  for field in ("nodule_contrast_hu", "lesion_contrast_hu"):
    low, high = getattr(config, field)
    changes[field] = (low * spec.contrast_scale, high * spec.contrast_scale)
  return dataclasses.replace(config, **changes)


def label_meaning(data: ml_collections.ConfigDict) -> tuple[str, str, bool]:
  """(dataset description, what "anomalous" means, whether that is a proxy label) for reports."""
  if data.source == "phantom":
    spec = data.phantom
    fixed = "".join(f", {name} {value:g} {unit}" for name, value, unit in _fixed_properties(spec))
    return (f"built-in synthetic CT (phantom: n={spec.n}, preset {spec.preset}{fixed}, seed {spec.seed})",
            "anomalous = the phantom generator put a lesion or an acquisition artefact into the slice (ground "
            "truth, known by construction)",
            False)
  described = data.label_meaning or (
      f"anomalous = the folder {data.anomalous_class!r}" if data.layout == "folders" else
      f"anomalous = rows whose {data.label_column!r} column equals {data.anomalous_value!r}; what that means "
      "clinically was not stated (set data.label_meaning)")
  return f"{data.root} ({data.layout} layout)", described, bool(data.label_is_proxy)


def load_from_config(data: ml_collections.ConfigDict, *, require_every_class: bool = True,
                     progress: bool = True) -> CtDataset:
  """Lists, decodes and labels the dataset described by a config's `data` section."""
  layout = layouts.LayoutSpec(layout=data.layout, table=data.table, path_column=data.path_column,
                              label_column=data.label_column, anomalous_value=str(data.anomalous_value),
                              anomalous_class=data.anomalous_class, patient_column=data.patient_column)
  try:
    selection = parse_slice_selection(data.slice_selection)
  except ValueError as e:
    raise layouts.DatasetLayoutError(f"data.slice_selection: {e}") from None
  return load_ct_dataset(dataset_root(data), layout=layout, settings=preprocess_settings(data),
                         cache_dir=data.cache_dir, num_workers=data.num_workers, strict=data.strict,
                         require_every_class=require_every_class, progress=progress, slice_selection=selection)
