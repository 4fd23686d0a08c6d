"""Min-Max normalisation (the paper's Eq. 1), fitted on the training split only.

x' = (x - X_min) / (X_max - X_min). The statistics travel with the model (checkpoint and export
manifest) as plain JSON, so inference maps pixels exactly as training did.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable

import numpy as np


def _per_channel(values: float | Iterable[float]) -> tuple[float, ...]:
  return tuple(float(v) for v in np.atleast_1d(np.asarray(values, np.float64)))


@dataclasses.dataclass(frozen=True)
class MinMaxStats:
  """Training-split pixel minimum and maximum (windowed HU), one per channel (HU window).

  A scalar given for x_min or x_max means one channel.
  """

  x_min: tuple[float, ...]
  x_max: tuple[float, ...]

  def __post_init__(self):
    object.__setattr__(self, "x_min", _per_channel(self.x_min))
    object.__setattr__(self, "x_max", _per_channel(self.x_max))
    if len(self.x_min) != len(self.x_max):
      raise ValueError(f"Min-Max statistics need one minimum and one maximum per channel, got "
                       f"{len(self.x_min)} and {len(self.x_max)}")
    low, high = np.array(self.x_min), np.array(self.x_max)
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
      raise ValueError(f"Min-Max statistics must be finite, got [{self.x_min}, {self.x_max}]")
    if (high <= low).any():
      raise ValueError(f"Min-Max range is empty ([{self.x_min}, {self.x_max}]): every training pixel of a channel "
                       "has the same value, so normalisation would divide by zero; check the HU windows and the "
                       "training data")

  @property
  def channels(self) -> int:
    return len(self.x_min)

  @classmethod
  def of_windows(cls, hu_windows) -> "MinMaxStats":
    """The map of each (low, high) HU window onto [0, 1], for showing or scoring slices without a training split."""
    return cls(x_min=[low for low, _ in hu_windows], x_max=[high for _, high in hu_windows])

  @classmethod
  def fit(cls, batches: Iterable[np.ndarray] | np.ndarray) -> "MinMaxStats":
    """Fits on (N, ..., channels) images, or on an iterable of such batches (streams a large dataset)."""
    if isinstance(batches, np.ndarray):
      batches = [batches]
    low = high = None
    for batch in batches:
      if batch.size:
        pixels = batch.reshape(-1, batch.shape[-1])
        batch_low, batch_high = pixels.min(axis=0).astype(np.float64), pixels.max(axis=0).astype(np.float64)
        low = batch_low if low is None else np.minimum(low, batch_low)
        high = batch_high if high is None else np.maximum(high, batch_high)
    if low is None:
      raise ValueError("cannot fit Min-Max statistics on no data: the training split is empty")
    return cls(x_min=low, x_max=high)

  def apply(self, x: np.ndarray) -> np.ndarray:
    """Maps each channel's training range to [0, 1]; values outside that range map outside [0, 1]."""
    low, high = np.array(self.x_min), np.array(self.x_max)
    return ((x - low) / (high - low)).astype(np.float32)

  def invert(self, x: np.ndarray) -> np.ndarray:
    low, high = np.array(self.x_min), np.array(self.x_max)
    return (x * (high - low) + low).astype(np.float32)

  def to_dict(self) -> dict[str, list[float]]:
    return {"x_min": list(self.x_min), "x_max": list(self.x_max)}

  @classmethod
  def from_dict(cls, d: dict) -> "MinMaxStats":
    """From to_dict's output; a run or export from before multi-window input stored scalars."""
    missing = {"x_min", "x_max"} - set(d)
    if missing:
      raise ValueError(f"Min-Max statistics lack {sorted(missing)}; got keys {sorted(d)}")
    return cls(x_min=d["x_min"], x_max=d["x_max"])
