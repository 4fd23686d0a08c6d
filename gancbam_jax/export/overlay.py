"""One PNG per scored slice: the slice beside itself with the detector's heatmap overlaid.

Written as pixels (no figure, no text), so nothing but the image and its map can end up in the
file, and thousands of slices take seconds. The map is scaled to its own range per slice: it shows
where the detector looked on this slice, not how strongly compared with other slices.
"""

from __future__ import annotations

import os

import matplotlib
import matplotlib.image
import numpy as np

HEATMAP_OPACITY = 0.5
COLORMAP = "inferno"
SEPARATOR_PX = 2


def overlay_rgb(image: np.ndarray, heatmap: np.ndarray, upscale: int = 4) -> np.ndarray:
  """(S, S) slice in [0, 1] and (S, S) heatmap -> RGB (S*upscale, (2S + sep)*upscale, 3): slice | overlay."""
  if image.shape != heatmap.shape:
    raise ValueError(f"slice {image.shape} and heatmap {heatmap.shape} differ in shape")
  grey = np.repeat(np.clip(image, 0.0, 1.0)[..., None], 3, axis=-1)
  low, high = float(heatmap.min()), float(heatmap.max())
  level = (heatmap - low) / (high - low) if high > low else np.zeros_like(heatmap)
  colour = matplotlib.colormaps[COLORMAP](level)[..., :3]
  # Opacity follows the map, so regions the detector ignored keep their grey value.
  alpha = HEATMAP_OPACITY * level[..., None]
  overlaid = (1.0 - alpha) * grey + alpha * colour
  separator = np.ones((image.shape[0], SEPARATOR_PX, 3))
  side_by_side = np.concatenate([grey, separator, overlaid], axis=1)
  return np.repeat(np.repeat(side_by_side, upscale, axis=0), upscale, axis=1)


def save_overlay(path: str | os.PathLike, image: np.ndarray, heatmap: np.ndarray) -> None:
  """Writes the slice-and-overlay PNG to `path` (parent directories created)."""
  os.makedirs(os.path.dirname(os.fspath(path)) or ".", exist_ok=True)
  matplotlib.image.imsave(path, (overlay_rgb(image, heatmap) * 255).round().astype(np.uint8))
