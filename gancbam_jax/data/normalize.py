"""Min-Max normalisation (the paper's Eq. 1), fitted on the training split only.

x' = (x - X_min) / (X_max - X_min). The statistics travel with the model (checkpoint and export
manifest) as plain JSON, so inference maps pixels exactly as training did.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable

import numpy as np


@dataclasses.dataclass(frozen=True)
class MinMaxStats:
  """Training-split pixel minimum and maximum (windowed HU)."""

  x_min: float
  x_max: float

  def __post_init__(self):
    if not np.isfinite(self.x_min) or not np.isfinite(self.x_max):
      raise ValueError(f"Min-Max statistics must be finite, got [{self.x_min}, {self.x_max}]")
    if self.x_max <= self.x_min:
      raise ValueError(f"Min-Max range is empty ([{self.x_min}, {self.x_max}]): every training pixel has the "
                       "same value, so normalisation would divide by zero; check the HU window and the training data")

  @classmethod
  def fit(cls, batches: Iterable[np.ndarray] | np.ndarray) -> "MinMaxStats":
    """Fits on an array, or on an iterable of batches (streams a dataset larger than memory)."""
    if isinstance(batches, np.ndarray):
      batches = [batches]
    low, high = np.inf, -np.inf
    for batch in batches:
      if batch.size:
        low, high = min(low, float(batch.min())), max(high, float(batch.max()))
    if not np.isfinite(low):
      raise ValueError("cannot fit Min-Max statistics on no data: the training split is empty")
    return cls(x_min=low, x_max=high)

  def apply(self, x: np.ndarray) -> np.ndarray:
    """Maps training-range values to [0, 1]; values outside that range map outside [0, 1]."""
    return ((x - self.x_min) / (self.x_max - self.x_min)).astype(np.float32)

  def invert(self, x: np.ndarray) -> np.ndarray:
    return (x * (self.x_max - self.x_min) + self.x_min).astype(np.float32)

  def to_dict(self) -> dict[str, float]:
    return {"x_min": float(self.x_min), "x_max": float(self.x_max)}

  @classmethod
  def from_dict(cls, d: dict) -> "MinMaxStats":
    missing = {"x_min", "x_max"} - set(d)
    if missing:
      raise ValueError(f"Min-Max statistics lack {sorted(missing)}; got keys {sorted(d)}")
    return cls(x_min=float(d["x_min"]), x_max=float(d["x_max"]))
