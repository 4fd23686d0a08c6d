"""Turn HU slices into network input: HU window, square padding, area-averaged resize.

The same function runs at training and at inference (the exported model's manifest records
its settings), so a slice is preprocessed identically wherever it is scored.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json

import numpy as np

# Soft tissue to bone, keeping contrast-enhanced vessels (about 100-400 HU); METHOD.md §1.
DEFAULT_HU_WINDOW = (-200.0, 1000.0)
LUNG_HU_WINDOW = (-1000.0, 400.0)
# Bump when the preprocessing code changes what it produces, so on-disk caches are not reused.
PREPROCESS_VERSION = 1


@dataclasses.dataclass(frozen=True)
class PreprocessSettings:
  """Everything that decides the array a DICOM file becomes.

  Attributes:
    hu_window: (low, high) HU; values outside are clipped.
    image_size: side of the square output (64 or 128 for the models).
    multiframe: "slices" (each frame is a slice) or "error".
    modalities: accepted DICOM Modality values.
    max_pixel_mib: the most pixel data a file may declare (refused before decoding when larger).
  """

  hu_window: tuple[float, float] = DEFAULT_HU_WINDOW
  image_size: int = 64
  multiframe: str = "slices"
  modalities: tuple[str, ...] = ("CT",)
  max_pixel_mib: float = 1024.0

  def __post_init__(self):
    low, high = self.hu_window
    if not low < high:
      raise ValueError(f"hu_window must be (low, high) with low < high, got {self.hu_window}")
    if self.image_size < 1:
      raise ValueError(f"image_size must be positive, got {self.image_size}")
    if self.multiframe not in ("slices", "error"):
      raise ValueError(f"multiframe must be 'slices' or 'error', got {self.multiframe!r}")
    if not self.max_pixel_mib > 0:
      raise ValueError(f"max_pixel_mib must be positive, got {self.max_pixel_mib}")

  def to_dict(self) -> dict:
    return {"hu_window": [float(v) for v in self.hu_window], "image_size": int(self.image_size),
            "multiframe": self.multiframe, "modalities": list(self.modalities),
            "max_pixel_mib": float(self.max_pixel_mib)}

  @classmethod
  def from_dict(cls, d: dict) -> "PreprocessSettings":
    # Manifests written before max_pixel_mib existed keep the default limit.
    return cls(hu_window=tuple(float(v) for v in d["hu_window"]), image_size=int(d["image_size"]),
               multiframe=str(d["multiframe"]), modalities=tuple(d["modalities"]),
               max_pixel_mib=float(d.get("max_pixel_mib", cls.max_pixel_mib)))

  def reader_options(self) -> dict:
    """The keyword arguments of `read_ct_slices` these settings decide."""
    return {"multiframe": self.multiframe, "modalities": self.modalities,
            "max_pixel_bytes": int(self.max_pixel_mib * 2**20)}

  def fingerprint(self) -> str:
    """A short stable hash of the settings and code version, used as a cache namespace.

    The size limit is left out: it decides which files are refused, not what an accepted one becomes.
    """
    decisive = {k: v for k, v in self.to_dict().items() if k != "max_pixel_mib"}
    payload = json.dumps({**decisive, "version": PREPROCESS_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def window_ct(hu: np.ndarray, window: tuple[float, float]) -> np.ndarray:
  """Clips HU values to the window (low, high)."""
  low, high = window
  return np.clip(hu, low, high)


def pad_to_square(image: np.ndarray, fill: float) -> np.ndarray:
  """Centres a (rows, cols) image on a square canvas filled with `fill`, keeping its aspect."""
  rows, cols = image.shape
  side = max(rows, cols)
  if rows == cols:
    return image
  canvas = np.full((side, side), fill, dtype=image.dtype)
  top, left = (side - rows) // 2, (side - cols) // 2
  canvas[top:top + rows, left:left + cols] = image
  return canvas


@functools.lru_cache(maxsize=32)
def _area_weights(n_in: int, n_out: int) -> np.ndarray:
  """(n_out, n_in) matrix whose row i averages the input cells that output cell i covers.

  Each output cell spans n_in / n_out input cells; partial overlaps are weighted by their
  length, so any ratio (not only integers) is an exact area average.
  """
  edges = np.arange(n_out + 1) * (n_in / n_out)
  starts, ends = edges[:-1, None], edges[1:, None]
  cells = np.arange(n_in)[None, :]
  overlap = np.clip(np.minimum(ends, cells + 1) - np.maximum(starts, cells), 0.0, None)
  return (overlap / overlap.sum(axis=1, keepdims=True)).astype(np.float64)


def area_resize(image: np.ndarray, size: int) -> np.ndarray:
  """Resizes a (rows, cols) image to (size, size) by area averaging."""
  rows, cols = image.shape
  if rows % size == 0 and cols % size == 0:
    # Integer factor (512 -> 64 or 128, the common case): a reshape-mean is exact and cheaper.
    return image.reshape(size, rows // size, size, cols // size).mean(axis=(1, 3))
  return _area_weights(rows, size) @ image.astype(np.float64) @ _area_weights(cols, size).T


def preprocess_slice(hu: np.ndarray, settings: PreprocessSettings) -> np.ndarray:
  """One HU slice (rows, cols) -> windowed, square, resized float32 (size, size, 1) in HU."""
  low, _ = settings.hu_window
  windowed = window_ct(hu.astype(np.float32), settings.hu_window)
  square = pad_to_square(windowed, fill=low)
  return area_resize(square, settings.image_size).astype(np.float32)[..., np.newaxis]


def preprocess_frames(hu_frames: np.ndarray, settings: PreprocessSettings) -> np.ndarray:
  """The HU frames (F, rows, cols) of one DICOM file -> model input (F, size, size, 1), windowed HU."""
  return np.stack([preprocess_slice(frame, settings) for frame in hu_frames])
