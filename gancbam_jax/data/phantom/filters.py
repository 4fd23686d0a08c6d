"""Image filters and random fields: Gaussian blur, smooth and correlated noise, the field of view."""

from __future__ import annotations

import functools
import math

import numpy as np

from gancbam_jax.data.phantom.config import IMAGE_SIZE


@functools.lru_cache(maxsize=16)
def gaussian_kernel(sigma_px: float) -> np.ndarray:
  """A normalised 1-D Gaussian kernel reaching 3 sigma."""
  radius = max(1, math.ceil(3 * sigma_px))
  offsets = np.arange(-radius, radius + 1, dtype=np.float32)
  kernel = np.exp(-offsets * offsets / (2 * sigma_px * sigma_px))
  return (kernel / kernel.sum()).astype(np.float32)


def _blur_rows(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
  radius = kernel.size // 2
  padded = np.pad(image, ((radius, radius), (0, 0)), mode="edge")
  rows = image.shape[0]
  blurred = kernel[0] * padded[:rows]
  for offset in range(1, kernel.size):
    blurred += kernel[offset] * padded[offset:offset + rows]
  return blurred


def gaussian_blur(image: np.ndarray, sigma_px: float, lateral_sigma_px: float | None = None) -> np.ndarray:
  """Separable Gaussian blur with edge padding (float32); lateral_sigma_px, if given, is the one along
  the rows (left-right), sigma_px then the one down the columns."""
  lateral = sigma_px if lateral_sigma_px is None else lateral_sigma_px
  return _blur_rows(_blur_rows(image, gaussian_kernel(sigma_px)).T, gaussian_kernel(lateral)).T


def smooth_field(rng: np.random.Generator, cells: int) -> np.ndarray:
  """A smooth random field of unit-scale values: a cells x cells normal grid, bilinearly upsampled."""
  coarse = rng.standard_normal((cells + 1, cells + 1)).astype(np.float32)
  position = np.linspace(0, cells, IMAGE_SIZE, dtype=np.float32)
  lower = np.minimum(position.astype(int), cells - 1)
  frac = position - lower
  rows = coarse[lower] * (1 - frac)[:, None] + coarse[lower + 1] * frac[:, None]
  return rows[:, lower] * (1 - frac)[None, :] + rows[:, lower + 1] * frac[None, :]


@functools.lru_cache(maxsize=1)
def radius_from_centre_px() -> np.ndarray:
  """Distance of each pixel from the image centre (the scanner's rotation axis), in pixels."""
  offsets = np.arange(IMAGE_SIZE, dtype=np.float32) - (IMAGE_SIZE - 1) / 2
  radius = np.hypot(offsets[:, None], offsets[None, :])
  radius.flags.writeable = False
  return radius


def field_of_view() -> np.ndarray:
  """Pixels inside the scanner's circular reconstruction field of view."""
  return radius_from_centre_px() <= IMAGE_SIZE / 2


def correlated_noise(rng: np.random.Generator, sigma_px: float, lateral_sigma_px: float | None = None) -> np.ndarray:
  """Unit-variance Gaussian noise correlated over neighbouring pixels, like reconstructed CT noise.

  A lateral_sigma_px above sigma_px (see gaussian_blur) draws it out into left-right streaks.
  """
  lateral = sigma_px if lateral_sigma_px is None else lateral_sigma_px
  white = rng.standard_normal((IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
  # Blurring with kernel k along one axis scales the variance of white noise by sum(k^2).
  variance = float(np.sum(gaussian_kernel(sigma_px) ** 2) * np.sum(gaussian_kernel(lateral) ** 2))
  return gaussian_blur(white, sigma_px, lateral) / np.float32(math.sqrt(variance))
