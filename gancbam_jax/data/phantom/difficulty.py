"""How visible the phantom's anomalies are to a model: contrast-to-noise at the working input.

Every slice is generated three times from the same seed: with its anomaly, without it, and
without it rescanned (other scanner noise). The streams are independent (SliceStreams), so the
first two differ by the anomaly alone and the last two by the noise alone. All three go through
the preprocessing a model sees (HU windows, resize), so

  signal = preprocessed(anomalous) - preprocessed(clean)          per channel, in HU
  noise  = std(preprocessed(clean) - preprocessed(rescan)) / sqrt(2)  over unclipped pixels

and an anomaly's contrast-to-noise ratio (CNR) in a channel is the mean |signal| over the pixels
where |signal| is at least half its peak, divided by that channel's noise. For a lesion that is
its contrast after partial volume and clipping; for an artefact spread over the slice, the
strength of its strongest part. A CNR of 0 means the window or the resolution erases it.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from gancbam_jax.data.phantom.config import PhantomConfig, resolve_config
from gancbam_jax.data.phantom.dataset import generate_slices
from gancbam_jax.data.phantom.filters import field_of_view
from gancbam_jax.data.preprocess import PreprocessSettings, area_resize, preprocess_slice


@dataclasses.dataclass(frozen=True)
class AnomalyVisibility:
  """One anomaly as a model sees it: its type and its contrast-to-noise ratio per input channel."""

  anomaly_type: str
  cnr: tuple[float, ...]

  @property
  def best_cnr(self) -> float:
    """The CNR in the channel (HU window) that shows the anomaly best."""
    return max(self.cnr)


def _noise_hu(clean: np.ndarray, rescan: np.ndarray, windows: tuple[tuple[float, float], ...],
              inside: np.ndarray) -> np.ndarray:
  """Per-channel noise standard deviation of one preprocessed slice, over pixels no window clips."""
  noise = []
  for channel, (low, high) in enumerate(windows):
    unclipped = inside & (clean[..., channel] > low) & (clean[..., channel] < high)
    difference = (clean[..., channel] - rescan[..., channel])[unclipped]
    noise.append(float(difference.std() / math.sqrt(2)) if difference.size > 1 else 0.0)
  return np.array(noise)


def contrast_to_noise(signal: np.ndarray, noise_hu: np.ndarray) -> tuple[float, ...]:
  """Per-channel CNR of an anomaly's signal map (size, size, channels) in HU (see the module docstring)."""
  cnr = []
  for channel, noise in enumerate(noise_hu):
    magnitude = np.abs(signal[..., channel])
    peak = magnitude.max()
    strength = magnitude[magnitude >= 0.5 * peak].mean() if peak > 0 else 0.0
    cnr.append(float(strength / noise) if noise > 0 else 0.0)
  return tuple(cnr)


def anomaly_visibility(n: int, seed: int, config: PhantomConfig | str, settings: PreprocessSettings
                       ) -> list[AnomalyVisibility]:
  """The visibility of n anomalies (every slice anomalous) at the given preprocessing."""
  config = resolve_config(config)
  anomalous, records = generate_slices(n, seed, dataclasses.replace(config, anomaly_fraction=1.0))
  normal = dataclasses.replace(config, anomaly_fraction=0.0)
  clean, _ = generate_slices(n, seed, normal)
  rescan, _ = generate_slices(n, seed, normal, rescan=1)
  inside = area_resize(field_of_view().astype(np.float32), settings.image_size) == 1.0
  visibility = []
  for with_anomaly, without, again, record in zip(anomalous, clean, rescan, records):
    seen = [preprocess_slice(image, settings) for image in (with_anomaly, without, again)]
    noise = _noise_hu(seen[1], seen[2], settings.hu_windows, inside)
    visibility.append(AnomalyVisibility(record.anomaly_type, contrast_to_noise(seen[0] - seen[1], noise)))
  return visibility


def summarise(visibility: list[AnomalyVisibility]) -> dict[str, dict[str, float]]:
  """Per anomaly type: count, median and 10th percentile of the best-channel CNR, share with CNR below 1."""
  summary = {}
  for kind in sorted({v.anomaly_type for v in visibility}):
    cnr = np.array([v.best_cnr for v in visibility if v.anomaly_type == kind])
    summary[kind] = {"n": int(cnr.size), "median_cnr": float(np.median(cnr)),
                     "p10_cnr": float(np.percentile(cnr, 10)), "share_below_1": float((cnr < 1).mean())}
  return summary
