"""Figures shared across stages: image grids per class (data inspection, generated samples)."""

from __future__ import annotations

import os
from typing import Mapping

import matplotlib

matplotlib.use("Agg")  # Headless: figures go to files, never to a window.
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen before pyplot loads)
import numpy as np  # noqa: E402


def side_by_side(image: np.ndarray) -> np.ndarray:
  """An (H, W) or (H, W, C) image as one (H, C * W) picture: its channels left to right."""
  image = np.asarray(image)
  return image if image.ndim == 2 else np.concatenate(list(np.moveaxis(image, -1, 0)), axis=1)


def save_class_grid(images_by_class: Mapping[str, np.ndarray], path: str | os.PathLike, *, title: str = "",
                    per_class: int = 8, value_range: tuple[float, float] | None = None) -> str:
  """Writes a PNG with one row per class of up to `per_class` images, each with its channels side by side.

  Args:
    images_by_class: class name -> array (N, H, W) or (N, H, W, C); a class may have none. The C
      channels (HU windows) of an image are shown left to right.
    path: output PNG.
    title: figure title.
    per_class: images shown per row.
    value_range: grey-level (low, high) shared by all images, so rows are comparable; default the
      overall min and max.
  """
  shown = {name: np.asarray(images)[:per_class] for name, images in images_by_class.items()}
  nonempty = [images for images in shown.values() if len(images)]
  if value_range is None and nonempty:
    value_range = (min(float(i.min()) for i in nonempty), max(float(i.max()) for i in nonempty))
  rows, cols = len(shown), per_class
  channels = next((images.shape[-1] for images in nonempty if images.ndim == 4), 1)
  fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols * channels, 1.7 * rows), squeeze=False)
  for row, (name, images) in enumerate(shown.items()):
    for col in range(cols):
      ax = axes[row, col]
      ax.axis("off")
      if col < len(images):
        ax.imshow(side_by_side(images[col]), cmap="gray", vmin=value_range[0], vmax=value_range[1])
    axes[row, 0].set_title(f"{name} ({len(images_by_class[name])})", loc="left", fontsize=9)
  if title:
    fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=80)
  plt.close(fig)
  return os.fspath(path)
