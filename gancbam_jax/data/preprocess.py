"""Turn HU slices into network input: one channel per HU window, square padding, area-averaged resize.

The same function runs at training and at inference (the exported model's manifest records
its settings), so a slice is preprocessed identically wherever it is scored.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math

import numpy as np

# Soft tissue to bone, keeping contrast-enhanced vessels (about 100-400 HU); METHOD.md §1.
DEFAULT_HU_WINDOW = (-200.0, 1000.0)
# Aerated lung (about -900 HU) to soft tissue: ground-glass and solid nodules, invisible in the
# window above, which clips the whole lung to its -200 floor.
LUNG_HU_WINDOW = (-1000.0, 400.0)
# Radiologists read chest CT at both windows; each becomes one input channel.
CHEST_HU_WINDOWS = (DEFAULT_HU_WINDOW, LUNG_HU_WINDOW)
# Bump when the preprocessing code changes what it produces, so on-disk caches are not reused.
PREPROCESS_VERSION = 3


@dataclasses.dataclass(frozen=True)
class PreprocessSettings:
  """Everything that decides the array a file (DICOM, image or NIfTI) becomes.

  Attributes:
    hu_windows: one (low, high) HU window per output channel; values outside a window are
      clipped to it.
    image_size: side of the square output (64 or 128 for the models).
    multiframe: "slices" (each frame is a slice) or "error".
    modalities: accepted DICOM Modality values.
    max_pixel_mib: the most pixel data a file may declare (refused before decoding when larger).
    image_rescale: (slope, intercept) mapping a PNG, JPEG or TIFF file's stored values to the
      windows' scale; None refuses such files, which carry no Hounsfield units.
    colour_to_gray: convert colour images to gray by luma; False refuses them.
  """

  hu_windows: tuple[tuple[float, float], ...] = (DEFAULT_HU_WINDOW,)
  image_size: int = 64
  multiframe: str = "slices"
  modalities: tuple[str, ...] = ("CT",)
  max_pixel_mib: float = 1024.0
  image_rescale: tuple[float, float] | None = None
  colour_to_gray: bool = True

  def __post_init__(self):
    if not self.hu_windows or any(len(window) != 2 or not window[0] < window[1] for window in self.hu_windows):
      raise ValueError(f"hu_windows must be one or more (low, high) HU windows with low < high, e.g. "
                       f"((-200, 1000), (-1000, 400)); got {self.hu_windows}")
    if self.image_size < 1:
      raise ValueError(f"image_size must be positive, got {self.image_size}")
    if self.multiframe not in ("slices", "error"):
      raise ValueError(f"multiframe must be 'slices' or 'error', got {self.multiframe!r}")
    if not self.max_pixel_mib > 0:
      raise ValueError(f"max_pixel_mib must be positive, got {self.max_pixel_mib}")
    if self.image_rescale is not None and not (len(self.image_rescale) == 2 and self.image_rescale[0] != 0
                                               and all(math.isfinite(v) for v in self.image_rescale)):
      raise ValueError(f"image_rescale must be (slope, intercept) with a non-zero slope, e.g. (1, -1024); got "
                       f"{self.image_rescale}")

  @property
  def channels(self) -> int:
    """Channels of the model input: one per HU window."""
    return len(self.hu_windows)

  def to_dict(self) -> dict:
    return {"hu_windows": [[float(v) for v in window] for window in self.hu_windows],
            "image_size": int(self.image_size),
            "multiframe": self.multiframe, "modalities": list(self.modalities),
            "max_pixel_mib": float(self.max_pixel_mib),
            "image_rescale": None if self.image_rescale is None else [float(v) for v in self.image_rescale],
            "colour_to_gray": bool(self.colour_to_gray)}

  @classmethod
  def from_dict(cls, d: dict) -> "PreprocessSettings":
    # Manifests written before max_pixel_mib existed keep the default limit, those from before
    # hu_windows their one window, those from before image files were read the defaults (DICOM only).
    windows = d["hu_windows"] if "hu_windows" in d else [d["hu_window"]]
    rescale = d.get("image_rescale")
    return cls(hu_windows=tuple(tuple(float(v) for v in window) for window in windows),
               image_size=int(d["image_size"]),
               multiframe=str(d["multiframe"]), modalities=tuple(d["modalities"]),
               max_pixel_mib=float(d.get("max_pixel_mib", cls.max_pixel_mib)),
               image_rescale=None if rescale is None else tuple(float(v) for v in rescale),
               colour_to_gray=bool(d.get("colour_to_gray", cls.colour_to_gray)))

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
  """One HU slice (rows, cols) -> windowed, square, resized float32 (size, size, channels) in HU.

  Each window is applied before resizing, as a viewer would: what a window clips stays clipped
  in every output pixel.
  """
  hu = hu.astype(np.float32)
  channels = [area_resize(pad_to_square(window_ct(hu, window), fill=window[0]), settings.image_size)
              for window in settings.hu_windows]
  return np.stack(channels, axis=-1).astype(np.float32)


def preprocess_frames(hu_frames: np.ndarray, settings: PreprocessSettings) -> np.ndarray:
  """The HU frames (F, rows, cols) of one file -> model input (F, size, size, channels), windowed HU."""
  return np.stack([preprocess_slice(frame, settings) for frame in hu_frames])
