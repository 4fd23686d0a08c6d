"""Anomalies: lesions (painted into the anatomy) and acquisition artefacts (added to the scan)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from gancbam_jax.data.phantom.anatomy import RenderedAnatomy
from gancbam_jax.data.phantom.config import IMAGE_SIZE, LUNG_LESION, MASS_MIN_DIAMETER_MM, METAL_HU, PhantomConfig
from gancbam_jax.data.phantom.filters import correlated_noise, field_of_view, radius_from_centre_px
from gancbam_jax.data.phantom.geometry import Ellipse, Grid, paint
from gancbam_jax.data.phantom.patient import Patient

# A part-solid nodule's ground-glass halo is this share of its solid core's density above the lung
# (about -600 to -400 HU around a solid core near 0 HU), and its core this share of its diameter.
GROUND_GLASS_SHARE = (0.3, 0.55)
SOLID_CORE_SHARE = (0.3, 0.6)


@dataclasses.dataclass(frozen=True)
class Lesion:
  """Where a lesion was drawn, in pixels, and how."""

  row: int
  col: int
  radius_px: float
  diameter_mm: float
  contrast_hu: float


def place_disc(grid: Grid, region: np.ndarray, radius_mm: float, rng: np.random.Generator,
               tries: int = 25) -> tuple[float, float]:
  """A centre (x, y) in region for a disc (lesion, metal) lying as much inside region as a few tries find."""
  rows, cols = np.nonzero(region)
  best, best_share = None, -1.0
  for pick in rng.choice(rows.size, size=min(tries, rows.size), replace=False):
    x, y = grid.point(rows[pick], cols[pick])
    disc = Ellipse(x, y, radius_mm, radius_mm)
    window = grid.window(x, y, radius_mm)
    inside = disc.inside(*grid.coordinates(window))
    share = float(region[window][inside].mean()) if inside.any() else 0.0
    if share > best_share:
      best, best_share = (x, y), share
    if share >= 0.9:
      break
  return best


def lesion_weight(grid: Grid, centre: tuple[float, float], radius_mm: float, window: tuple[slice, slice],
                  rng: np.random.Generator) -> np.ndarray:
  """Lesion occupancy in [0, 1] over a window: a lobulated disc with a soft edge."""
  x, y = grid.coordinates(window)
  dx, dy = x - centre[0], y - centre[1]
  angle = np.arctan2(dy, dx)
  outline = np.ones_like(angle)
  for lobes in (2, 3, 4):
    outline += rng.uniform(0, 0.12 / lobes) * np.cos(lobes * angle + rng.uniform(0, 2 * math.pi))
  edge_mm = max(rng.uniform(0.8, 2.0), 0.1 * radius_mm)
  return np.clip((radius_mm * outline - np.hypot(dx, dy)) / edge_mm + 0.5, 0.0, 1.0)


def add_lesion(image: np.ndarray, grid: Grid, region: np.ndarray, centre: tuple[float, float], diameter_mm: float,
               contrast_hu: float, rng: np.random.Generator, lung_hu: float | None = None) -> Lesion:
  """Paints a lesion centred at centre (mm) into region.

  The lesion is contrast_hu denser than what surrounds it. In the lungs (lung_hu given) it is
  lung_hu + contrast_hu and adds density only, so vessels it engulfs stay as dense. In soft
  tissue it replaces the tissue with the local median + contrast_hu.
  """
  radius_mm = diameter_mm / 2
  window = grid.window(*centre, radius_mm * 1.3)
  weight = lesion_weight(grid, centre, radius_mm, window, rng) * region[window]
  local = image[window]
  base_hu = lung_hu if lung_hu is not None else float(np.median(local[weight > 0.5] if (weight > 0.5).any() else local))
  change = base_hu + contrast_hu + 8 * rng.standard_normal(weight.shape).astype(np.float32) - local
  if lung_hu is not None:
    np.maximum(change, 0, out=change)
  local += weight * change
  row, col = grid.pixel(*centre)
  return Lesion(int(round(row)), int(round(col)), radius_mm / grid.spacing_mm, diameter_mm, contrast_hu)


def soft_tissue(anatomy: RenderedAnatomy) -> np.ndarray:
  """Soft-tissue pixels (muscle, organs, vessels) of a noise-free slice."""
  return anatomy.body & (anatomy.hu > -30) & (anatomy.hu < 200)


def draw_lesion(anatomy: RenderedAnatomy, patient: Patient, kind: str, config: PhantomConfig,
                rng: np.random.Generator) -> tuple[str, Lesion]:
  """Draws a lesion of the planned kind with sampled size and contrast; returns its type and place.

  A lung lesion is solid, or (part_solid_share of them) part-solid: a ground-glass halo at
  GROUND_GLASS_SHARE of the drawn contrast around a solid core, the pattern of early adenocarcinoma.
  Its record gives the whole diameter and the core's contrast.
  """
  low, high = config.lesion_diameter_mm
  diameter = float(math.exp(rng.uniform(math.log(low), math.log(high))))
  grid = patient.grid
  if kind == LUNG_LESION:
    contrast = float(rng.uniform(*config.nodule_contrast_hu))
    part_solid = rng.random() < config.part_solid_share
    # Centred in aerated lung, not on a hilar vessel that would hide it; drawn only over the lungs,
    # so a mass abutting the mediastinum or pleura is cut flat there.
    centre = place_disc(grid, anatomy.lungs & (anatomy.hu < -600), diameter / 2, rng)
    lung = patient.tissue.lung
    if part_solid:
      add_lesion(anatomy.hu, grid, anatomy.lungs, centre, diameter, contrast * rng.uniform(*GROUND_GLASS_SHARE), rng,
                 lung_hu=lung)
      core = diameter * rng.uniform(*SOLID_CORE_SHARE)
      lesion = dataclasses.replace(add_lesion(anatomy.hu, grid, anatomy.lungs, centre, core, contrast, rng, lung_hu=lung),
                                   radius_px=diameter / 2 / grid.spacing_mm, diameter_mm=diameter)
    else:
      lesion = add_lesion(anatomy.hu, grid, anatomy.lungs, centre, diameter, contrast, rng, lung_hu=lung)
    return ("mass" if diameter > MASS_MIN_DIAMETER_MM else "nodule"), lesion
  sign = -1.0 if kind == "hypodense_lesion" else 1.0
  contrast = sign * float(rng.uniform(*config.lesion_contrast_hu))
  # In a solid organ, where it shows as a lesion (a metastasis in the liver, an abscess in a
  # muscle); in the mediastinum's vessels and fat a soft-tissue lesion passes for anatomy.
  tissue = soft_tissue(anatomy) & anatomy.solid_organs
  centre = place_disc(grid, tissue, diameter / 2, rng)
  return kind, add_lesion(anatomy.hu, grid, tissue, centre, diameter, contrast, rng)


@dataclasses.dataclass(frozen=True)
class Artefact:
  """An acquisition artefact: its type, strength (see PhantomSlice) and, for streaks, the dense source."""

  kind: str
  strength: float
  source: tuple[float, float] | None = None


def draw_artefact(kind: str, anatomy: RenderedAnatomy, patient: Patient, config: PhantomConfig,
                  rng: np.random.Generator) -> Artefact:
  """Samples an artefact of the planned kind; a streak's dense object is painted into the anatomy."""
  if kind == "hu_miscalibration":
    return Artefact(kind, float(rng.choice((-1.0, 1.0)) * rng.uniform(*config.miscalibration_hu)))
  if kind == "ring":
    return Artefact(kind, float(rng.uniform(*config.ring_amplitude_hu)))
  if kind == "noise_burst":
    return Artefact(kind, float(rng.uniform(*config.noise_burst_factor)))
  # Metal in soft tissue: a surgical clip, sternal wire or pacemaker lead.
  radius = rng.uniform(1.5, 4.0)
  source = place_disc(patient.grid, soft_tissue(anatomy), radius, rng)
  paint(anatomy.hu, patient.grid, Ellipse(*source, radius, radius * rng.uniform(1.0, 2.0), rng.uniform(0, math.pi)),
        METAL_HU)
  return Artefact(kind, float(rng.uniform(*config.streak_amplitude_hu)), source)


def ring_pattern(rng: np.random.Generator, amplitude_hu: float) -> np.ndarray:
  """Bright and dark circles around the rotation axis (miscalibrated detector channels).

  Each is 5-10 pixels wide at 512 (a group of neighbouring channels), so it spans a pixel or more
  of a 64 x 64 input: thinner rings are averaged away by the resize.
  """
  radius = radius_from_centre_px()
  pattern = np.zeros_like(radius)
  for _ in range(int(rng.integers(2, 6))):
    ring_radius, width = rng.uniform(15, 240), rng.uniform(5.0, 10.0)
    strength = rng.choice((-1.0, 1.0)) * amplitude_hu * rng.uniform(0.6, 1.0)
    pattern += strength * np.exp(-((radius - ring_radius) / width) ** 2)
  return pattern


def streak_pattern(grid: Grid, source: tuple[float, float], amplitude_hu: float,
                   rng: np.random.Generator) -> np.ndarray:
  """Bright and dark lines through a dense object, fading with distance (beam hardening, starvation).

  Lines are 1.5-4 pixels wide at 512, so they survive the resize to the working input, and keep
  half their strength 120 pixels from the source: metal streaks cross the body, not just the clip.
  """
  dx, dy = grid.x - source[0], grid.y - source[1]
  decay = 1 / (1 + np.hypot(dx, dy) / 120.0)
  pattern = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
  for angle in rng.uniform(0, math.pi, int(rng.integers(8, 16))):
    distance = dx * math.sin(angle) - dy * math.cos(angle)
    width = rng.uniform(1.5, 4.0)
    pattern += rng.choice((-1.0, 1.0)) * rng.uniform(0.4, 1.0) * np.exp(-(distance / width) ** 2)
  return amplitude_hu * pattern * decay


def noise_burst(rng: np.random.Generator, body: np.ndarray, noise_level: np.ndarray, factor: float,
                sigma_px: float) -> np.ndarray:
  """Extra noise raising the noise level factor-fold over the slice or a region of the body.

  It is photon starvation: too few photons through the widest path (the shoulders, left to right)
  leave noise streaked along it, correlated over 8-20 pixels along the rows and twice the scanner's
  sigma_px down the columns. Unlike the fine scanner noise, a resize to the working input keeps it.
  """
  gain = np.float32(1.0)
  if rng.random() < 0.6:
    body_rows, body_cols = np.nonzero(body & field_of_view())
    pick = rng.integers(body_rows.size)
    width = rng.uniform(50, 140)
    rows = np.arange(IMAGE_SIZE, dtype=np.float32)[:, None] - body_rows[pick]
    cols = np.arange(IMAGE_SIZE, dtype=np.float32)[None, :] - body_cols[pick]
    gain = np.exp(-(rows * rows + cols * cols) / (2 * width * width))
  streaks = correlated_noise(rng, 2 * sigma_px, lateral_sigma_px=rng.uniform(8.0, 20.0))
  return streaks * noise_level * (math.sqrt(factor * factor - 1) * gain)
