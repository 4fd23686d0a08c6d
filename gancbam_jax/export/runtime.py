"""Load an export directory and score normalised image batches with it; needs jax and numpy, not the model code.

  detector = ExportedDetector.load("export/")
  scores, heatmaps = detector.score(images, batch_size=64)  # images (N, S, S, 1), Min-Max normalised
  labels = detector.labels(scores)

The serialised function carries its weights; deserialising it needs no Flax module, so a
deployment can run it on any jax install of a compatible version (the manifest's versions.jax).
"""

from __future__ import annotations

import pathlib

import jax
import numpy as np
from jax import export

from gancbam_jax.batching import map_in_batches
from gancbam_jax.data.decoded import HOUNSFIELD
from gancbam_jax.data.normalize import MinMaxStats
from gancbam_jax.data.preprocess import PreprocessSettings
from gancbam_jax.export.manifest import MODEL_FILE, read_manifest


class ExportedDetector:
  """A verified export: its manifest and the deserialised scoring function."""

  def __init__(self, directory: pathlib.Path, manifest: dict, exported: export.Exported):
    self.directory, self.manifest = directory, manifest
    self._call = jax.jit(exported.call)  # compiled once per batch shape
    self.input_shape = tuple(manifest["input"]["shape"][1:])
    self.input_dtype = np.dtype(manifest["input"]["dtype"])

  @classmethod
  def load(cls, directory: str | pathlib.Path) -> "ExportedDetector":
    """Reads an export directory after checking every file against the manifest's SHA-256.

    Raises:
      ExportError: the directory is not a complete, unmodified export.
    """
    directory = pathlib.Path(directory).expanduser().resolve()
    manifest = read_manifest(directory)
    return cls(directory, manifest, export.deserialize(bytearray((directory / MODEL_FILE).read_bytes())))

  @property
  def method(self) -> str:
    return self.manifest["method"]

  @property
  def threshold(self) -> float:
    return float(self.manifest["threshold"])

  @property
  def preprocess(self) -> PreprocessSettings:
    """How a file's slice becomes an input, exactly as in training."""
    return PreprocessSettings.from_dict(self.manifest["preprocess"])

  @property
  def value_scales(self) -> tuple[str, ...]:
    """The value scales of the files the model was trained on ("HU", "8-bit", ...); HU for exports older than that."""
    return tuple(self.manifest.get("trained_on", {}).get("value_scales", [HOUNSFIELD]))

  @property
  def normalization(self) -> MinMaxStats:
    """The training split's Min-Max statistics."""
    return MinMaxStats.from_dict(self.manifest["normalization"])

  def check_images(self, images) -> np.ndarray:
    """`images` as the model's input array; ValueError naming the expected shape when they are not one."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != self.input_shape:
      raise ValueError(f"the exported {self.method} detector takes images of shape (N, "
                       f"{', '.join(map(str, self.input_shape))}) (NHWC, Min-Max normalised), got shape "
                       f"{images.shape}; preprocess slices with the manifest's settings first")
    if not np.issubdtype(images.dtype, np.floating):
      raise ValueError(f"the exported detector takes floating-point images, got dtype {images.dtype}")
    return images.astype(self.input_dtype, copy=False)

  def __call__(self, images) -> tuple[np.ndarray, np.ndarray]:
    """Scores (N,) and heatmaps (N, S, S) of one batch."""
    scores, heatmaps = self._call(self.check_images(images))
    return np.asarray(scores), np.asarray(heatmaps)

  def score(self, images, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Scores and heatmaps of any number of images, in batches of `batch_size` (one compiled shape)."""
    images = self.check_images(images)
    if batch_size < 1:
      raise ValueError(f"batch_size must be positive, got {batch_size}")
    if not len(images):
      return np.zeros((0,), np.float32), np.zeros((0, *self.input_shape[:2]), np.float32)
    return map_in_batches(self, images, batch_size)

  def labels(self, scores: np.ndarray) -> list[str]:
    """The class name each score means at the manifest's threshold (validation-chosen)."""
    labels = self.manifest["labels"]
    return [labels["flagged"] if s >= self.threshold else labels["not_flagged"] for s in np.asarray(scores)]
