"""Generate synthetic axial chest CT slices in Hounsfield units, with controlled anomalies.

The built-in dataset for users without the Kaggle "CT Medical Images" download and for every
test. Each synthetic patient has its own anatomy (body size and shape, fat and muscle,
lungs with branching vessels, mediastinum, heart and great vessels, spine, ribs, sternum,
scapulae, liver; optional contrast enhancement, breasts, table, ECG electrodes) and several
slices at different levels of the chest. Half of the slices (`anomaly_fraction`) carry one
anomaly: a lesion of controlled diameter and contrast (lung nodule or mass, hypo- or
hyperdense soft-tissue lesion) or an acquisition artefact (HU miscalibration, ring, streaks
from a dense object, noise burst). Everything is drawn from the seed, so a seed gives the same
slices, and `write_dataset` the same bytes, on every run.

Coordinates: x in mm towards the patient's left (image right), y in mm posterior (image
down), origin at the image centre; an image is IMAGE_SIZE x IMAGE_SIZE pixels. Slice levels z
run from 0 (thoracic inlet) to 1 (lung bases, liver dome).

Entry points: `generate_slices(n, seed, config)` -> (int16 HU (n, 512, 512), [PhantomSlice]),
`generate_patients` (the same, patient by patient) and `write_dataset(out_dir, n, seed, preset)`
(DICOM files plus overview.csv, see phantom_dicom). Slices are int16 HU with the area outside
the scanner's circular field of view set to air, which is what
`gancbam_jax.data.dicom.read_ct_slices` returns for the written files; the DICOM writer stores
that area as padding, like real scanners.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import pathlib
from typing import Iterator, Protocol

import numpy as np
from pydicom.uid import generate_uid

from gancbam_jax.data import phantom_dicom

IMAGE_SIZE = 512
AIR_HU = -1000.0
# Scanners clip reconstructed values to their stored range: stored 0 at intercept -1024, and
# 12-bit detectors saturate at 3071 HU (metal reads 3071 in the SIIM sample).
MIN_HU = -1024.0
MAX_HU = 3071.0
# Metal attenuates far beyond that range, so even a small clip still saturates after blurring.
METAL_HU = 8000.0
# Radiology's convention: a lung lesion over 3 cm is a mass, up to 3 cm a nodule.
MASS_MIN_DIAMETER_MM = 30.0
LESION_TYPES = ("nodule", "mass", "hypodense_lesion", "hyperdense_lesion")
ARTEFACT_TYPES = ("hu_miscalibration", "ring", "streak", "noise_burst")
ANOMALY_TYPES = ("none",) + LESION_TYPES + ARTEFACT_TYPES
# The planned kind of a lung lesion; it becomes a nodule or a mass once its diameter is drawn.
LUNG_LESION = "lung_lesion"
PATIENT_ID_PREFIX = "PHANTOM-"

Range = tuple[float, float]


@dataclasses.dataclass(frozen=True)
class PhantomConfig:
  """Parameters of the synthetic dataset; (min, max) ranges are sampled uniformly.

  Robustness sweeps override fields with `dataclasses.replace`; a range (v, v) fixes a value.

  Attributes:
    noise_hu: standard deviation of the scanner noise in the body, per patient.
    lesion_diameter_mm: diameter of every lesion (log-uniform, so small ones are common).
      Lung lesions up to MASS_MIN_DIAMETER_MM are nodules, larger ones masses.
    nodule_contrast_hu: how much denser than the lung parenchyma a lung lesion is (about 900
      for a solid nodule, 200-400 for ground glass).
    lesion_contrast_hu: how much darker (hypodense) or brighter (hyperdense) than the
      surrounding soft tissue a soft-tissue lesion is. Sweep it together with
      nodule_contrast_hu to vary the contrast of every lesion.
    anomaly_fraction: share of slices with an anomaly (exact up to rounding).
    artefact_share: share of anomalous slices whose anomaly is an acquisition artefact
      rather than a lesion.
    lung_lesion_share: share of lesions placed in the lungs rather than in soft tissue.
    miscalibration_hu: magnitude of a global HU offset (sign random).
    ring_amplitude_hu: peak amplitude of ring artefacts.
    streak_amplitude_hu: peak amplitude of streaks from a dense object.
    noise_burst_factor: how many times the noise level rises in a noise burst.
    slices_per_patient: (min, max) slices per synthetic patient.
    contrast_fraction: share of patients scanned with intravenous contrast; independent of
      the anomaly label (a nuisance variable, as in the Kaggle set).
    pixel_spacing_mm: in-plane pixel spacing, per patient; the body is sized to the field of
      view as a scanner operator would.
    table_probability: share of patients with the scanner table visible.
    skin_marker_probability: share of slices with ECG electrodes on the skin (dense, so
      a bright object alone does not reveal a streak artefact).
  """

  noise_hu: Range = (10.0, 20.0)
  lesion_diameter_mm: Range = (8.0, 45.0)
  nodule_contrast_hu: Range = (300.0, 900.0)
  lesion_contrast_hu: Range = (25.0, 80.0)
  anomaly_fraction: float = 0.5
  artefact_share: float = 0.3
  lung_lesion_share: float = 0.6
  miscalibration_hu: Range = (30.0, 80.0)
  ring_amplitude_hu: Range = (25.0, 60.0)
  streak_amplitude_hu: Range = (80.0, 250.0)
  noise_burst_factor: Range = (2.0, 3.0)
  slices_per_patient: tuple[int, int] = (2, 6)
  contrast_fraction: float = 0.5
  pixel_spacing_mm: Range = (0.6, 0.9)
  table_probability: float = 0.85
  skin_marker_probability: float = 0.3

  def __post_init__(self):
    for field in dataclasses.fields(self):
      value = getattr(self, field.name)
      if isinstance(value, tuple):
        low, high = value
        if not 0 <= low <= high:
          raise ValueError(f"{field.name} must be a range (min, max) with 0 <= min <= max, got {value}")
      elif not 0.0 <= value <= 1.0:
        raise ValueError(f"{field.name} must be a fraction in [0, 1], got {value}")
    if self.slices_per_patient[0] < 1:
      raise ValueError(f"slices_per_patient must start at 1 or more, got {self.slices_per_patient}")
    if self.lesion_diameter_mm[0] <= 0:
      raise ValueError(f"lesion_diameter_mm must be positive, got {self.lesion_diameter_mm}")
    if self.noise_burst_factor[0] < 1:
      raise ValueError(f"noise_burst_factor must be at least 1, got {self.noise_burst_factor}")


PRESETS: dict[str, PhantomConfig] = {
    # Large, high-contrast lesions and strong artefacts in quiet images.
    "easy": PhantomConfig(noise_hu=(8.0, 12.0), lesion_diameter_mm=(15.0, 60.0),
                          nodule_contrast_hu=(700.0, 950.0), lesion_contrast_hu=(60.0, 120.0),
                          miscalibration_hu=(80.0, 150.0), ring_amplitude_hu=(60.0, 120.0),
                          streak_amplitude_hu=(200.0, 400.0), noise_burst_factor=(3.0, 4.0)),
    "medium": PhantomConfig(),
    # Small, faint lesions and subtle artefacts in noisy images.
    "hard": PhantomConfig(noise_hu=(15.0, 25.0), lesion_diameter_mm=(4.0, 20.0),
                          nodule_contrast_hu=(150.0, 600.0), lesion_contrast_hu=(10.0, 40.0),
                          miscalibration_hu=(15.0, 40.0), ring_amplitude_hu=(10.0, 30.0),
                          streak_amplitude_hu=(40.0, 120.0), noise_burst_factor=(1.5, 2.2)),
}


def resolve_config(preset_or_config: str | PhantomConfig) -> PhantomConfig:
  """Returns the config itself, or the preset of that name."""
  if isinstance(preset_or_config, PhantomConfig):
    return preset_or_config
  if preset_or_config not in PRESETS:
    raise ValueError(f"unknown phantom preset {preset_or_config!r}; choose one of {sorted(PRESETS)}")
  return PRESETS[preset_or_config]


@dataclasses.dataclass(frozen=True)
class PhantomSlice:
  """What is known about one generated slice: identity, acquisition, and ground truth.

  Lesion fields are None for slices without a lesion; artefact_strength is None for slices
  without an artefact (HU offset for hu_miscalibration, amplitude in HU for ring and streak,
  noise factor for noise_burst).
  """

  index: int
  patient_index: int
  patient_id: str
  instance_number: int
  slice_location_mm: float
  age: int
  sex: str
  contrast: bool
  contrast_tag: str
  pixel_spacing_mm: float
  noise_hu: float
  anomaly: bool
  anomaly_type: str
  lesion_row: int | None
  lesion_col: int | None
  lesion_radius_px: float | None
  lesion_diameter_mm: float | None
  lesion_contrast_hu: float | None
  artefact_strength: float | None
  study_uid: str
  series_uid: str
  frame_of_reference_uid: str
  sop_uid: str


# ---------------------------------------------------------------------------------------------
# Geometry: shapes in mm painted into windows of the image.


@dataclasses.dataclass(frozen=True)
class Grid:
  """Pixel centres of one patient's image in mm (x a row vector, y a column vector)."""

  spacing_mm: float
  x: np.ndarray
  y: np.ndarray

  @classmethod
  def for_spacing(cls, spacing_mm: float) -> Grid:
    centres = ((np.arange(IMAGE_SIZE) - (IMAGE_SIZE - 1) / 2) * spacing_mm).astype(np.float32)
    return cls(spacing_mm, centres[np.newaxis, :], centres[:, np.newaxis])

  def pixel(self, x_mm: float, y_mm: float) -> tuple[float, float]:
    """(row, col) of a point."""
    centre = (IMAGE_SIZE - 1) / 2
    return y_mm / self.spacing_mm + centre, x_mm / self.spacing_mm + centre

  def point(self, row: float, col: float) -> tuple[float, float]:
    """(x, y) in mm of a pixel."""
    centre = (IMAGE_SIZE - 1) / 2
    return (col - centre) * self.spacing_mm, (row - centre) * self.spacing_mm

  def window(self, cx: float, cy: float, half_size_mm: float) -> tuple[slice, slice]:
    """Rows and columns of the square of half side half_size_mm around (cx, cy), clipped."""
    row, col = self.pixel(cx, cy)
    half = half_size_mm / self.spacing_mm + 1
    rows = slice(_clip_index(row - half), _clip_index(row + half + 1))
    cols = slice(_clip_index(col - half), _clip_index(col + half + 1))
    return rows, cols

  def coordinates(self, window: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
    return self.x[:, window[1]], self.y[window[0], :]


def _clip_index(value: float) -> int:
  return int(min(max(math.floor(value), 0), IMAGE_SIZE))


class Shape(Protocol):
  """A region of the plane: a centre, a bounding half-size and a membership test, in mm."""

  cx: float
  cy: float

  def extent_mm(self) -> float: ...

  def inside(self, x: np.ndarray, y: np.ndarray) -> np.ndarray: ...


@dataclasses.dataclass(frozen=True)
class Ellipse:
  """A (super)ellipse: |u/a|^power + |v/b|^power <= 1 in axes rotated by angle (radians)."""

  cx: float
  cy: float
  a: float
  b: float
  angle: float = 0.0
  power: float = 2.0

  def extent_mm(self) -> float:
    return max(self.a, self.b) * (math.sqrt(2) if self.power > 2 else 1.0)

  def inside(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    dx, dy = x - self.cx, y - self.cy
    if self.angle:
      cos, sin = math.cos(self.angle), math.sin(self.angle)
      dx, dy = dx * cos + dy * sin, dy * cos - dx * sin
    u, v = dx / self.a, dy / self.b
    if self.power == 2:
      return u * u + v * v <= 1
    return np.abs(u) ** self.power + np.abs(v) ** self.power <= 1

  def shrunk(self, by_mm: float) -> Ellipse:
    return dataclasses.replace(self, a=max(self.a - by_mm, 0.1), b=max(self.b - by_mm, 0.1))

  def local_point(self, u: float, v: float) -> tuple[float, float]:
    """The point at (u*a, v*b) in the ellipse's own rotated axes."""
    cos, sin = math.cos(self.angle), math.sin(self.angle)
    du, dv = u * self.a, v * self.b
    return self.cx + du * cos - dv * sin, self.cy + du * sin + dv * cos

  def boundary_point(self, theta: float) -> tuple[float, float, float]:
    """(x, y, outward normal angle) of the unrotated boundary in direction theta."""
    cos, sin = math.cos(theta), math.sin(theta)
    exponent = 2 / self.power
    x = self.cx + self.a * math.copysign(abs(cos) ** exponent, cos)
    y = self.cy + self.b * math.copysign(abs(sin) ** exponent, sin)
    return x, y, math.atan2(sin / self.b, cos / self.a)


@dataclasses.dataclass(frozen=True)
class Torso:
  """A body section: superellipse halves, rounder in front and flatter at the back."""

  anterior: Ellipse
  posterior: Ellipse

  @property
  def cx(self) -> float:
    return self.anterior.cx

  @property
  def cy(self) -> float:
    return self.anterior.cy

  @property
  def top(self) -> float:
    return self.cy - self.anterior.b

  @property
  def bottom(self) -> float:
    return self.cy + self.posterior.b

  def extent_mm(self) -> float:
    return max(self.anterior.extent_mm(), self.posterior.extent_mm())

  def inside(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.where(y < self.cy, self.anterior.inside(x, y), self.posterior.inside(x, y))

  def shrunk(self, by_mm: float) -> Torso:
    return Torso(self.anterior.shrunk(by_mm), self.posterior.shrunk(by_mm))

  def inner(self, top: float, bottom: float, half_width: float) -> Torso:
    """A section of the same shape spanning top to bottom, half_width wide (a layer further in)."""
    centre_y, half_depth = (top + bottom) / 2, (bottom - top) / 2
    return Torso(Ellipse(self.cx, centre_y, half_width, half_depth, power=self.anterior.power),
                 Ellipse(self.cx, centre_y, half_width, half_depth, power=self.posterior.power))

  def boundary_point(self, theta: float) -> tuple[float, float, float]:
    half = self.anterior if math.sin(theta) < 0 else self.posterior
    return half.boundary_point(theta)


@dataclasses.dataclass(frozen=True)
class Capsule:
  """A tapering tube segment from (x0, y0) with radius r0 to (x1, y1) with radius r1."""

  x0: float
  y0: float
  x1: float
  y1: float
  r0: float
  r1: float

  @property
  def cx(self) -> float:
    return (self.x0 + self.x1) / 2

  @property
  def cy(self) -> float:
    return (self.y0 + self.y1) / 2

  def extent_mm(self) -> float:
    return math.hypot(self.x1 - self.x0, self.y1 - self.y0) / 2 + max(self.r0, self.r1)

  def inside(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ex, ey = self.x1 - self.x0, self.y1 - self.y0
    length2 = max(ex * ex + ey * ey, 1e-6)
    t = np.clip(((x - self.x0) * ex + (y - self.y0) * ey) / length2, 0.0, 1.0)
    dx, dy = x - self.x0 - t * ex, y - self.y0 - t * ey
    radius = self.r0 + (self.r1 - self.r0) * t
    return dx * dx + dy * dy <= radius * radius

  def shrunk(self, by_mm: float) -> Capsule:
    return dataclasses.replace(self, r0=max(self.r0 - by_mm, 0.1), r1=max(self.r1 - by_mm, 0.1))


@dataclasses.dataclass(frozen=True)
class TableTop:
  """A curved shell of the scanner table: y = top + x^2 / (2 radius), of given thickness."""

  top: float
  radius: float
  thickness: float
  half_width: float
  cx: float = 0.0

  @property
  def cy(self) -> float:
    return self.top

  def extent_mm(self) -> float:
    return self.half_width

  def inside(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    surface = self.top + x * x / (2 * self.radius)
    return (y >= surface) & (y <= surface + self.thickness) & (np.abs(x) <= self.half_width)


def paint(image: np.ndarray, grid: Grid, shape: Shape, hu: float, where: np.ndarray | None = None) -> None:
  """Sets the pixels of image inside shape (and inside the mask where, if given) to hu."""
  window = grid.window(shape.cx, shape.cy, shape.extent_mm())
  inside = shape.inside(*grid.coordinates(window))
  if where is not None:
    inside &= where[window]
  image[window][inside] = hu


def paint_bone(image: np.ndarray, grid: Grid, shape: Ellipse | Capsule, tissue: TissueHU, cortex_mm: float) -> None:
  """Paints a bone: dense cortex around trabecular (marrow) bone."""
  paint(image, grid, shape, tissue.cortex)
  paint(image, grid, shape.shrunk(cortex_mm), tissue.trabecular)


def shape_mask(grid: Grid, shape: Shape) -> np.ndarray:
  """The full-image boolean mask of a shape."""
  mask = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
  paint(mask, grid, shape, True)
  return mask


# ---------------------------------------------------------------------------------------------
# Image filters.


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


def gaussian_blur(image: np.ndarray, sigma_px: float) -> np.ndarray:
  """Separable Gaussian blur with edge padding (float32)."""
  kernel = gaussian_kernel(sigma_px)
  return _blur_rows(_blur_rows(image, kernel).T, kernel).T


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


# ---------------------------------------------------------------------------------------------
# Patients: anatomy and tissue densities.


@dataclasses.dataclass(frozen=True)
class TissueHU:
  """Densities of one patient's tissues in HU (enhanced ones depend on contrast)."""

  skin: float
  fat: float
  breast_gland: float
  muscle: float
  lung: float
  lung_gradient: float
  pulmonary_vessel: float
  aorta: float
  pulmonary_artery: float
  vena_cava: float
  heart_blood: float
  myocardium: float
  liver: float
  spleen: float
  cortex: float
  trabecular: float
  cartilage: float
  spinal_canal: float
  table: float


def sample_tissue(rng: np.random.Generator, contrast: bool, age: int) -> TissueHU:
  """Draws a patient's densities; the same draws happen with and without contrast.

  So a seed gives the same anatomy whatever contrast_fraction is, and only enhanced tissue
  changes when the flag flips.
  """
  blood = rng.uniform(35, 50)
  aorta = rng.uniform(150, 350)
  # Arterial-phase timing differs between patients: right heart and pulmonary arteries are
  # sometimes brighter, sometimes darker than the aorta; the injected vein can be very dense.
  pulmonary = aorta * rng.uniform(0.6, 1.3)
  cava = rng.uniform(300, 1200) if rng.random() < 0.5 else aorta * rng.uniform(0.5, 1.0)
  enhanced = {"muscle": rng.uniform(8, 15), "myocardium": rng.uniform(50, 80), "liver": rng.uniform(35, 60),
              "spleen": rng.uniform(60, 90)}
  muscle = rng.uniform(40, 58)
  myocardium = rng.uniform(38, 50)
  liver = rng.uniform(52, 66)
  spleen = rng.uniform(40, 50)
  # Trabecular bone loses density with age (osteoporosis).
  trabecular = rng.uniform(280, 340) - 2.5 * (age - 40)
  return TissueHU(
      skin=rng.uniform(10, 50),
      fat=rng.uniform(-115, -85),
      breast_gland=rng.uniform(-40, 20),
      muscle=muscle + enhanced["muscle"] * contrast,
      lung=rng.uniform(-910, -860),
      lung_gradient=rng.uniform(40, 250),
      pulmonary_vessel=pulmonary * 0.8 if contrast else blood,
      aorta=aorta if contrast else blood,
      pulmonary_artery=pulmonary if contrast else blood,
      vena_cava=cava if contrast else blood,
      heart_blood=(aorta + pulmonary) / 2 if contrast else blood,
      myocardium=myocardium + enhanced["myocardium"] * contrast,
      liver=liver + enhanced["liver"] * contrast,
      spleen=spleen + enhanced["spleen"] * contrast,
      cortex=rng.uniform(800, 1400),
      trabecular=trabecular,
      cartilage=rng.uniform(100, 200),
      spinal_canal=rng.uniform(5, 25),
      table=rng.uniform(-50, 150),
  )


@dataclasses.dataclass(frozen=True)
class Patient:
  """One synthetic patient: anatomy shared by all its slices, and acquisition settings."""

  index: int
  age: int
  sex: str
  contrast: bool
  contrast_tag: str
  grid: Grid
  tissue: TissueHU
  body: Torso
  fat_mm: tuple[float, float, float]  # lateral, anterior, posterior subcutaneous fat
  wall_mm: tuple[float, float, float]  # lateral, anterior, posterior muscle and rib wall
  breasts: tuple[Ellipse, Ellipse] | None
  organ_scale: float
  heart_shift_mm: float
  heart_size_mm: tuple[float, float]
  heart_angle: float
  lung_scale: float
  vertebra_mm: tuple[float, float]
  aorta_radius_mm: float
  rib_phase: float
  ribs_per_side: int
  table: tuple[TableTop, TableTop] | None
  noise_hu: float
  psf_sigma_px: float
  thorax_length_mm: float
  table_position_mm: float

  @property
  def patient_id(self) -> str:
    return f"{PATIENT_ID_PREFIX}{self.index:04d}"


def sample_patient(index: int, rng: np.random.Generator, config: PhantomConfig) -> Patient:
  """Draws a patient's anatomy, densities and acquisition settings."""
  age = int(rng.integers(40, 86))
  sex = "F" if rng.random() < 0.45 else "M"
  # Every draw happens whatever the outcome, so contrast_fraction changes nothing but enhancement.
  contrast, tagged = rng.random() < config.contrast_fraction, rng.random() < 0.3
  contrast_tag = "APPLIED" if contrast and tagged else "NONE"
  # Rounded as the DICOM file stores it, so pixel sizes computed from the file match the records.
  spacing = round(float(rng.uniform(*config.pixel_spacing_mm)), 6)
  grid = Grid.for_spacing(spacing)
  # Operators fit the field of view to the patient, so the body fills most of the image.
  half_width = rng.uniform(0.8, 1.0) * IMAGE_SIZE / 2 * spacing
  half_depth = half_width * rng.uniform(0.63, 0.85)
  centre_x, centre_y = rng.uniform(-4, 4), rng.uniform(-0.08, 0.02) * half_depth
  body = Torso(Ellipse(centre_x, centre_y, half_width, half_depth, power=rng.uniform(2.1, 2.6)),
               Ellipse(centre_x, centre_y, half_width, half_depth * rng.uniform(0.9, 1.0), power=rng.uniform(2.6, 3.4)))
  fat = rng.uniform(5, 30)
  fat_mm = (fat * rng.uniform(1.0, 1.6), fat * rng.uniform(0.6, 1.0), fat * rng.uniform(0.4, 0.8))
  wall_mm = (rng.uniform(10, 16), rng.uniform(12, 25), rng.uniform(22, 32))
  organ_scale = float(np.clip((half_width - fat_mm[0] - wall_mm[0]) / 125, 0.75, 1.25))
  breasts = None
  if sex == "F":
    size = rng.uniform(40, 75) * organ_scale
    breast_y = body.top + rng.uniform(0.35, 0.6) * size
    breasts = tuple(Ellipse(side * half_width * rng.uniform(0.4, 0.55), breast_y, size, size * rng.uniform(0.6, 0.85))
                    for side in (-1, 1))
  table = None
  if rng.random() < config.table_probability:
    top = body.bottom + rng.uniform(0, 4)
    radius, thickness = rng.uniform(500, 900), rng.uniform(3, 6)
    table = (TableTop(top, radius, thickness, half_width * 1.4),
             TableTop(top + rng.uniform(25, 45), radius, thickness, half_width * 1.5))
  return Patient(
      index=index, age=age, sex=sex, contrast=bool(contrast), contrast_tag=contrast_tag, grid=grid,
      tissue=sample_tissue(rng, contrast, age), body=body, fat_mm=fat_mm, wall_mm=wall_mm,
      breasts=breasts, organ_scale=organ_scale, heart_shift_mm=rng.uniform(5, 25),
      heart_size_mm=(rng.uniform(48, 62) * organ_scale, rng.uniform(36, 46) * organ_scale),
      heart_angle=math.radians(rng.uniform(-45, -25)), lung_scale=rng.uniform(0.9, 1.05),
      vertebra_mm=(rng.uniform(15, 21) * organ_scale, rng.uniform(13, 17) * organ_scale),
      aorta_radius_mm=rng.uniform(11, 16) * organ_scale, rib_phase=rng.uniform(0, 1),
      ribs_per_side=int(rng.integers(6, 9)), table=table, noise_hu=float(rng.uniform(*config.noise_hu)),
      psf_sigma_px=float(rng.uniform(0.7, 1.3)), thorax_length_mm=rng.uniform(220, 290),
      table_position_mm=rng.uniform(-150, -50))


# ---------------------------------------------------------------------------------------------
# Anatomy of one slice.


@dataclasses.dataclass(frozen=True)
class SliceLayout:
  """Where the organs of one patient lie at level z (None where absent at that level)."""

  cavity: Torso
  lungs: tuple[Ellipse, Ellipse]
  mediastinum: Ellipse
  heart: Ellipse | None
  liver: Ellipse | None
  spleen: Ellipse | None
  vertebra: Ellipse
  canal: Ellipse
  paraspinal: tuple[Ellipse, Ellipse]
  descending_aorta: Ellipse | None


@dataclasses.dataclass(frozen=True)
class RenderedAnatomy:
  """A noise-free slice in HU with the masks that anomalies are placed in."""

  hu: np.ndarray
  body: np.ndarray
  lungs: np.ndarray


def slice_layout(patient: Patient, z: float) -> SliceLayout:
  """Places the thoracic organs of a patient at level z (0 inlet, 1 lung bases)."""
  body = patient.body
  fat_lat, fat_ant, fat_post = patient.fat_mm
  wall_lat, wall_ant, wall_post = patient.wall_mm
  top, bottom = body.top + fat_ant + wall_ant, body.bottom - fat_post - wall_post
  half_width = body.anterior.a - fat_lat - wall_lat
  cavity = body.inner(top, bottom, half_width)
  centre_y, half_depth = cavity.cy, cavity.anterior.b
  scale = patient.organ_scale
  # Lungs widen from the apex down to mid-chest.
  lung_size = patient.lung_scale * (0.72 + 0.28 * min(1.0, z / 0.45))
  lungs = tuple(Ellipse(body.cx + side * half_width * 0.5, centre_y + half_depth * 0.08 * (1 - z),
                        half_width * 0.55 * lung_size, half_depth * lung_size, power=2.4)
                for side in (-1, 1))
  mediastinum = Ellipse(body.cx + 4 * scale, centre_y - half_depth * 0.15, (22 + 12 * z) * scale, half_depth * 0.95)
  heart = None
  heart_level = math.sin(math.pi * min(max((z - 0.42) / 0.62, 0.0), 1.0))
  if heart_level > 0.05:
    heart_a, heart_b = patient.heart_size_mm
    heart = Ellipse(body.cx + patient.heart_shift_mm, centre_y - half_depth * 0.12,
                    heart_a * (0.45 + 0.55 * heart_level), heart_b * (0.45 + 0.55 * heart_level), patient.heart_angle)
  liver = spleen = None
  if z > 0.68:
    growth = (z - 0.68) / 0.32
    liver = Ellipse(body.cx - half_width * 0.4, centre_y + half_depth * 0.2 * (1 - growth),
                    half_width * (0.35 + 0.35 * growth), half_depth * (0.45 + 0.5 * growth), power=2.2)
  if z > 0.85:
    growth = (z - 0.85) / 0.15
    spleen = Ellipse(body.cx + half_width * 0.6, centre_y + half_depth * 0.45, (15 + 25 * growth) * scale,
                     (10 + 15 * growth) * scale, math.radians(-40))
  # The lungs reach back beside the spine down to the level of the spinal canal.
  vertebra_a, vertebra_b = patient.vertebra_mm
  canal_radius = 8 * scale
  canal = Ellipse(body.cx, bottom - 5 * scale, canal_radius, canal_radius)
  vertebra = Ellipse(body.cx, canal.cy - canal_radius - 1.5 - vertebra_b, vertebra_a, vertebra_b)
  paraspinal = tuple(Ellipse(body.cx + side * (canal_radius + 16 * scale), canal.cy + 10 * scale, 20 * scale,
                             26 * scale, side * math.radians(15)) for side in (-1, 1))
  descending_aorta = None
  if z > 0.22:
    radius = patient.aorta_radius_mm * 0.85
    descending_aorta = Ellipse(body.cx + vertebra_a + radius * 0.6, vertebra.cy - vertebra_b * 0.7 - radius * 0.3,
                               radius, radius)
  return SliceLayout(cavity, lungs, mediastinum, heart, liver, spleen, vertebra, canal, paraspinal, descending_aorta)


def lung_fields(grid: Grid, layout: SliceLayout) -> np.ndarray:
  """The aerated lungs: lung shapes inside the rib cage, outside mediastinum, heart, spine, liver."""
  mask = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
  pleura = layout.cavity.shrunk(2.0)
  excluded = [layout.mediastinum, layout.vertebra.shrunk(-6.0), layout.canal.shrunk(-8.0), *layout.paraspinal]
  excluded += [organ.shrunk(-3.0) for organ in (layout.heart, layout.liver, layout.spleen, layout.descending_aorta)
               if organ is not None]
  for lung in layout.lungs:
    window = grid.window(lung.cx, lung.cy, lung.extent_mm())
    x, y = grid.coordinates(window)
    inside = lung.inside(x, y) & pleura.inside(x, y)
    for organ in excluded:
      inside &= ~organ.inside(x, y)
    mask[window] |= inside
  return mask


def paint_body_wall(image: np.ndarray, patient: Patient) -> np.ndarray:
  """Paints skin, subcutaneous fat, breasts and the muscle wall; returns the body mask."""
  grid, tissue, body = patient.grid, patient.tissue, patient.body
  fat_lat, fat_ant, fat_post = patient.fat_mm
  outlines = [body, *(patient.breasts or ())]
  # All skin first, then all fat, so no skin line runs where a breast meets the chest.
  for outline in outlines:
    paint(image, grid, outline, tissue.skin)
  for outline in outlines:
    paint(image, grid, outline.shrunk(1.5), tissue.fat)
  for breast in patient.breasts or ():
    gland = dataclasses.replace(breast, cy=breast.cy + breast.b * 0.25, a=breast.a * 0.55, b=breast.b * 0.5)
    paint(image, grid, gland, tissue.breast_gland)
  body_mask = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
  for outline in outlines:
    paint(body_mask, grid, outline, True)
  paint(image, grid, body.inner(body.top + fat_ant, body.bottom - fat_post, body.anterior.a - fat_lat), tissue.muscle)
  return body_mask


def paint_lungs(image: np.ndarray, patient: Patient, lungs: np.ndarray, rng: np.random.Generator) -> None:
  """Fills the lung fields with parenchyma: denser towards the back (gravity), slightly mottled."""
  tissue, grid = patient.tissue, patient.grid
  rows = np.flatnonzero(lungs.any(axis=1))
  front, back = grid.y[rows[0], 0], grid.y[rows[-1], 0]
  depth = np.clip((grid.y - front) / max(back - front, 1.0), 0, 1)
  parenchyma = tissue.lung + tissue.lung_gradient * depth ** 3 + 20 * smooth_field(rng, 24)
  np.copyto(image, parenchyma, where=lungs)


def lung_vessel_tree(rng: np.random.Generator, hilum: tuple[float, float], lateral: float, root_radius: float,
                     budget: int) -> list[Capsule]:
  """Branching, tapering pulmonary vessels from a hilum, as cut by a slice.

  Branches leaving the slice plane look shorter (foreshortened) or vanish (gaps), which turns
  the tree into the fragments and dots a 5 mm slice shows.
  """
  stack = [(hilum[0], hilum[1], lateral + rng.uniform(-1.7, 1.7), root_radius * rng.uniform(0.8, 1.1))
           for _ in range(int(rng.integers(3, 6)))]
  segments = []
  while stack and len(segments) < budget:
    x, y, angle, radius = stack.pop(0)
    length = radius * rng.uniform(4, 8) * math.cos(rng.uniform(0, 1.3))
    end_x, end_y = x + length * math.cos(angle), y + length * math.sin(angle)
    end_radius = radius * rng.uniform(0.75, 0.9)
    if radius > 2.0 or rng.random() > 0.35:
      segments.append(Capsule(x, y, end_x, end_y, radius, end_radius))
    if end_radius < 0.6:
      continue
    if rng.random() < 0.7:
      spread = rng.uniform(0.25, 0.6)
      stack.append((end_x, end_y, angle - spread, end_radius * 0.78))
      stack.append((end_x, end_y, angle + spread * rng.uniform(0.5, 1.0), end_radius * 0.78))
    else:
      stack.append((end_x, end_y, angle + rng.uniform(-0.2, 0.2), end_radius * 0.92))
  return segments


def add_lung_vessels(image: np.ndarray, patient: Patient, layout: SliceLayout, z: float, lungs: np.ndarray,
                     rng: np.random.Generator) -> None:
  """Paints vessel trees from each hilum and vessels cut across (dots), thinner to the periphery."""
  grid, tissue = patient.grid, patient.tissue
  # Central vessels are thickest at the level of the hila.
  root_radius = rng.uniform(2.0, 3.5) * (0.6 + 0.4 * math.exp(-((z - 0.5) / 0.25) ** 2)) * patient.organ_scale
  rows, cols = np.nonzero(lungs)
  for side, lung in zip((-1, 1), layout.lungs):
    hilum = (layout.mediastinum.cx + side * (layout.mediastinum.a + 4), layout.cavity.cy)
    lateral = 0.0 if side > 0 else math.pi
    for vessel in lung_vessel_tree(rng, hilum, lateral, root_radius, budget=60):
      paint(image, grid, vessel, tissue.pulmonary_vessel, where=lungs)
    on_side = np.flatnonzero((grid.x[0, cols] - layout.mediastinum.cx) * side > 0)
    if on_side.size == 0:
      continue
    for pick in rng.choice(on_side, size=min(90, on_side.size), replace=False):
      x, y = grid.point(rows[pick], cols[pick])
      distance = min(math.hypot(x - hilum[0], y - hilum[1]) / (2 * lung.a), 1.0)
      radius = rng.uniform(0.5, 2.0) * (1 - 0.6 * distance)
      # A vessel crossing only part of the 5 mm slice thickness is averaged with the air around it.
      partial_volume = rng.uniform(0.3, 1.0)
      hu = tissue.lung + partial_volume * (tissue.pulmonary_vessel - tissue.lung)
      paint(image, grid, Ellipse(x, y, radius, radius * rng.uniform(1.0, 1.8), rng.uniform(0, math.pi)), hu,
            where=lungs)


def paint_heart(image: np.ndarray, grid: Grid, heart: Ellipse, tissue: TissueHU) -> None:
  """Heart in its fat: myocardium around chambers (only distinct with contrast)."""
  paint(image, grid, heart.shrunk(-3.0), tissue.fat)
  paint(image, grid, heart, tissue.myocardium)
  chambers = ((0.25, 0.12, 0.45, 0.5, tissue.aorta),  # left ventricle, towards the apex
              (-0.05, -0.45, 0.55, 0.32, tissue.pulmonary_artery),  # right ventricle, in front
              (-0.45, 0.35, 0.35, 0.4, tissue.heart_blood))  # atria, behind
  for u, v, size_a, size_b, hu in chambers:
    cx, cy = heart.local_point(u, v)
    paint(image, grid, Ellipse(cx, cy, heart.a * size_a, heart.b * size_b, heart.angle), hu)


def paint_great_vessels(image: np.ndarray, patient: Patient, layout: SliceLayout, z: float) -> None:
  """Aorta, pulmonary trunk, venae cavae, arch branches, trachea, bronchi and oesophagus by level."""
  grid, tissue, scale = patient.grid, patient.tissue, patient.organ_scale
  cavity, vertebra = layout.cavity, layout.vertebra
  radius = patient.aorta_radius_mm
  front_y = layout.mediastinum.cy - layout.mediastinum.b * 0.35
  ascending = (cavity.cx - 8 * scale, front_y)
  descending = layout.descending_aorta
  if descending is None:  # above the aortic arch
    branches = ((-9, 6.5), (3, 4.5), (12, 5.0))  # brachiocephalic, left carotid, left subclavian
    for dx, branch_radius in branches:
      paint(image, grid, Ellipse(ascending[0] + dx * scale, ascending[1] + 4, branch_radius * scale,
                                 branch_radius * scale), tissue.aorta)
  else:
    paint(image, grid, descending, tissue.aorta)
  if descending is not None and z < 0.3:
    paint(image, grid, Capsule(*ascending, descending.cx, descending.cy, radius * 0.9, radius * 0.85), tissue.aorta)
  elif 0.3 <= z < 0.56:
    paint(image, grid, Ellipse(*ascending, radius, radius), tissue.aorta)
    if z >= 0.36:
      trunk = Ellipse(ascending[0] + radius + 12 * scale, ascending[1] - 2, 13 * scale, 12 * scale)
      paint(image, grid, trunk, tissue.pulmonary_artery)
  if z < 0.56:
    paint(image, grid, Ellipse(ascending[0] - radius - 9 * scale, ascending[1] + 4, 9 * scale, 10 * scale),
          tissue.vena_cava)
  airway_y = vertebra.cy - vertebra.b - 16 * scale
  if z < 0.42:
    trachea = Ellipse(cavity.cx, airway_y, 10 * scale, 9 * scale)
    paint(image, grid, trachea, tissue.muscle)
    paint(image, grid, trachea.shrunk(2.0), AIR_HU)
  elif z < 0.56:
    for side in (-1, 1):
      paint(image, grid, Ellipse(cavity.cx + side * 17 * scale, airway_y + 6, 6 * scale, 6 * scale), AIR_HU)
  oesophagus = Ellipse(cavity.cx + 6 * scale, vertebra.cy - vertebra.b - 5 * scale, 7 * scale, 5 * scale)
  paint(image, grid, oesophagus, tissue.muscle)


def paint_upper_abdomen(image: np.ndarray, patient: Patient, layout: SliceLayout, cavity: np.ndarray) -> None:
  """Liver dome under the right lung, spleen under the left, at the lowest levels."""
  if layout.liver is not None:
    paint(image, patient.grid, layout.liver, patient.tissue.liver, where=cavity)
  if layout.spleen is not None:
    paint(image, patient.grid, layout.spleen, patient.tissue.spleen, where=cavity)


def paint_spine(image: np.ndarray, patient: Patient, layout: SliceLayout) -> None:
  """Vertebral body, spinal canal and the posterior arch with its processes."""
  grid, tissue, scale = patient.grid, patient.tissue, patient.organ_scale
  vertebra, canal = layout.vertebra, layout.canal
  for muscle in layout.paraspinal:
    paint(image, grid, muscle, tissue.muscle)
  paint_bone(image, grid, vertebra, tissue, 2.0)
  arch_tip = min(canal.cy + canal.b + 28 * scale, patient.body.bottom - patient.fat_mm[2] - 6)
  processes = [Capsule(canal.cx, canal.cy, canal.cx, arch_tip, 5 * scale, 3 * scale)]
  processes += [Capsule(canal.cx, canal.cy, canal.cx + side * 28 * scale, canal.cy - 4, 5 * scale, 4 * scale)
                for side in (-1, 1)]
  for process in processes:
    paint_bone(image, grid, process, tissue, 1.5)
  paint_bone(image, grid, canal.shrunk(-4.5), tissue, 1.5)
  paint(image, grid, canal, tissue.spinal_canal)


def paint_ribs(image: np.ndarray, patient: Patient, layout: SliceLayout, z: float, rng: np.random.Generator) -> None:
  """Rib sections along the rib cage, cartilage in front; ribs run obliquely, so they shift with z."""
  grid, tissue = patient.grid, patient.tissue
  count = patient.ribs_per_side
  step = math.radians(150) / (count - 1)
  phase = ((patient.rib_phase + z * 6) % 1.0) * step
  for side in (-1, 1):
    for k in range(count):
      theta = math.radians(-80) + k * step + phase + rng.uniform(-0.05, 0.05)
      if theta > math.radians(75):
        continue
      theta = theta if side > 0 else math.pi - theta
      x, y, normal = layout.cavity.boundary_point(theta)
      thickness = rng.uniform(2.5, 4.0)
      rib = Ellipse(x + (thickness + 1.5) * math.cos(normal), y + (thickness + 1.5) * math.sin(normal),
                    rng.uniform(5, 11), thickness, normal + math.pi / 2)
      if math.sin(theta) < -0.85:
        paint(image, grid, rib, tissue.cartilage)
      else:
        paint_bone(image, grid, rib, tissue, 1.2)


def paint_sternum_and_scapulae(image: np.ndarray, patient: Patient, layout: SliceLayout, z: float) -> None:
  """The sternum in front (wider manubrium high up) and the shoulder blades behind, high up."""
  grid, tissue, scale = patient.grid, patient.tissue, patient.organ_scale
  cavity = layout.cavity
  width = (24 if z < 0.25 else 15) * scale
  sternum = Ellipse(cavity.cx, cavity.top - 8, width, 7 * scale)
  paint_bone(image, grid, sternum, tissue, 1.5)
  if z >= 0.55:
    return
  length = (55 - 40 * z) * scale
  for side in (-1, 1):
    theta = math.radians(58) if side > 0 else math.radians(122)
    x, y, normal = cavity.boundary_point(theta)
    offset = patient.wall_mm[0] * 0.9 + 6
    scapula = Ellipse(x + offset * math.cos(normal), y + offset * math.sin(normal), length, 3.5 * scale,
                      normal + math.pi / 2)
    paint_bone(image, grid, scapula, tissue, 1.5)


def paint_table(image: np.ndarray, patient: Patient) -> None:
  """The curved scanner table under the patient."""
  for shell in patient.table or ():
    paint(image, patient.grid, shell, patient.tissue.table)


def paint_skin_markers(image: np.ndarray, patient: Patient, rng: np.random.Generator) -> None:
  """ECG electrodes: small dense dots on the front of the skin."""
  for _ in range(int(rng.integers(1, 4))):
    x, y, normal = patient.body.boundary_point(rng.uniform(-2.6, -0.5))
    radius = rng.uniform(1.5, 3.0)
    marker = Ellipse(x + (radius + 1) * math.cos(normal), y + (radius + 1) * math.sin(normal), radius, radius)
    paint(image, patient.grid, marker, rng.uniform(1500, MAX_HU))


def render_anatomy(patient: Patient, z: float, rng: np.random.Generator, skin_markers: bool) -> RenderedAnatomy:
  """Paints the noise-free anatomy of a patient at level z, back to front."""
  grid, tissue = patient.grid, patient.tissue
  image = np.full((IMAGE_SIZE, IMAGE_SIZE), AIR_HU, dtype=np.float32)
  paint_table(image, patient)
  body = paint_body_wall(image, patient)
  layout = slice_layout(patient, z)
  paint(image, grid, layout.cavity, tissue.fat)
  cavity = shape_mask(grid, layout.cavity)
  lungs = lung_fields(grid, layout)
  paint_lungs(image, patient, lungs, rng)
  add_lung_vessels(image, patient, layout, z, lungs, rng)
  if layout.heart is not None:
    paint_heart(image, grid, layout.heart, tissue)
  paint_great_vessels(image, patient, layout, z)
  paint_upper_abdomen(image, patient, layout, cavity)
  paint_spine(image, patient, layout)
  paint_ribs(image, patient, layout, z, rng)
  paint_sternum_and_scapulae(image, patient, layout, z)
  if skin_markers:
    paint_skin_markers(image, patient, rng)
  return RenderedAnatomy(image, body, lungs)


# ---------------------------------------------------------------------------------------------
# Anomalies: lesions (painted into the anatomy) and acquisition artefacts (added to the scan).


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


def add_lesion(image: np.ndarray, grid: Grid, region: np.ndarray, diameter_mm: float, contrast_hu: float,
               rng: np.random.Generator, lung_hu: float | None = None, centre_in: np.ndarray | None = None) -> Lesion:
  """Paints a lesion into region (centred where its disc lies inside centre_in, default region).

  The lesion is contrast_hu denser than what surrounds it. In the lungs (lung_hu given) it is
  lung_hu + contrast_hu and adds density only, so vessels it engulfs stay as dense. In soft
  tissue it replaces the tissue with the local median + contrast_hu.
  """
  radius_mm = diameter_mm / 2
  centre = place_disc(grid, region if centre_in is None else centre_in, radius_mm, rng)
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
  """Draws a lesion of the planned kind with sampled size and contrast; returns its type and place."""
  low, high = config.lesion_diameter_mm
  diameter = float(math.exp(rng.uniform(math.log(low), math.log(high))))
  if kind == LUNG_LESION:
    contrast = float(rng.uniform(*config.nodule_contrast_hu))
    # Centred in aerated lung, not on a hilar vessel that would hide it; drawn only over the lungs,
    # so a mass abutting the mediastinum or pleura is cut flat there.
    lesion = add_lesion(anatomy.hu, patient.grid, anatomy.lungs, diameter, contrast, rng, lung_hu=patient.tissue.lung,
                        centre_in=anatomy.lungs & (anatomy.hu < -600))
    return ("mass" if diameter > MASS_MIN_DIAMETER_MM else "nodule"), lesion
  sign = -1.0 if kind == "hypodense_lesion" else 1.0
  contrast = sign * float(rng.uniform(*config.lesion_contrast_hu))
  return kind, add_lesion(anatomy.hu, patient.grid, soft_tissue(anatomy), diameter, contrast, rng)


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


def correlated_noise(rng: np.random.Generator, sigma_px: float) -> np.ndarray:
  """Unit-variance Gaussian noise correlated over neighbouring pixels, like reconstructed CT noise."""
  white = rng.standard_normal((IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
  # A separable kernel k scales the standard deviation of white noise by sum(k^2).
  return gaussian_blur(white, sigma_px) / float(np.sum(gaussian_kernel(sigma_px) ** 2))


def ring_pattern(rng: np.random.Generator, amplitude_hu: float) -> np.ndarray:
  """Thin bright and dark circles around the rotation axis (a miscalibrated detector channel)."""
  radius = radius_from_centre_px()
  pattern = np.zeros_like(radius)
  for _ in range(int(rng.integers(1, 5))):
    ring_radius, width = rng.uniform(15, 240), rng.uniform(0.7, 2.0)
    strength = rng.choice((-1.0, 1.0)) * amplitude_hu * rng.uniform(0.6, 1.0)
    pattern += strength * np.exp(-((radius - ring_radius) / width) ** 2)
  return pattern


def streak_pattern(grid: Grid, source: tuple[float, float], amplitude_hu: float,
                   rng: np.random.Generator) -> np.ndarray:
  """Bright and dark lines through a dense object, fading with distance (beam hardening, starvation)."""
  dx, dy = grid.x - source[0], grid.y - source[1]
  decay = 1 / (1 + np.hypot(dx, dy) / 40.0)
  pattern = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
  for angle in rng.uniform(0, math.pi, int(rng.integers(8, 16))):
    distance = dx * math.sin(angle) - dy * math.cos(angle)
    width = rng.uniform(0.5, 2.0)
    pattern += rng.choice((-1.0, 1.0)) * rng.uniform(0.4, 1.0) * np.exp(-(distance / width) ** 2)
  return amplitude_hu * pattern * decay


def noise_burst(rng: np.random.Generator, body: np.ndarray, noise_level: np.ndarray, factor: float,
                sigma_px: float) -> np.ndarray:
  """Extra noise raising the noise level factor-fold over the slice or a region of the body."""
  gain = np.float32(1.0)
  if rng.random() < 0.6:
    body_rows, body_cols = np.nonzero(body & field_of_view())
    pick = rng.integers(body_rows.size)
    width = rng.uniform(50, 140)
    rows = np.arange(IMAGE_SIZE, dtype=np.float32)[:, None] - body_rows[pick]
    cols = np.arange(IMAGE_SIZE, dtype=np.float32)[None, :] - body_cols[pick]
    gain = np.exp(-(rows * rows + cols * cols) / (2 * width * width))
  return correlated_noise(rng, sigma_px) * noise_level * (math.sqrt(factor * factor - 1) * gain)


# Reconstructed noise is lower in air outside the body than inside it (SIIM sample: 3-13 HU).
AIR_NOISE_SHARE = 0.4


def add_scanner_noise(image: np.ndarray, anatomy: RenderedAnatomy, patient: Patient,
                      rng: np.random.Generator) -> np.ndarray:
  """Adds correlated noise at the patient's level inside the body, less outside; returns the level."""
  noise_level = np.where(anatomy.body, patient.noise_hu, AIR_NOISE_SHARE * patient.noise_hu).astype(np.float32)
  image += correlated_noise(rng, patient.psf_sigma_px) * noise_level
  return noise_level


def acquire(anatomy: RenderedAnatomy, patient: Patient, artefact: Artefact | None,
            rng: np.random.Generator) -> np.ndarray:
  """Turns noise-free anatomy into a scan: blur, noise, artefact, clipping, field of view; int16 HU."""
  # The scanner's point spread blurs edges (partial volume).
  image = gaussian_blur(anatomy.hu, patient.psf_sigma_px)
  noise_level = add_scanner_noise(image, anatomy, patient, rng)
  if artefact is not None:
    if artefact.kind == "hu_miscalibration":
      image += artefact.strength
    elif artefact.kind == "ring":
      image += ring_pattern(rng, artefact.strength)
    elif artefact.kind == "streak":
      image += streak_pattern(patient.grid, artefact.source, artefact.strength, rng)
    else:
      image += noise_burst(rng, anatomy.body, noise_level, artefact.strength, patient.psf_sigma_px)
  np.clip(image, MIN_HU, MAX_HU, out=image)
  image[~field_of_view()] = AIR_HU
  return np.rint(image).astype(np.int16)


# ---------------------------------------------------------------------------------------------
# Datasets.


@dataclasses.dataclass(frozen=True)
class SlicePlan:
  """What one slice will be: its patient, position within the patient, and planned anomaly kind."""

  index: int
  patient_index: int
  instance: int
  kind: str


def _rng(seed: int, *stream: int) -> np.random.Generator:
  """An independent random stream for (seed, stream...), so parts never shift each other's draws."""
  return np.random.default_rng([seed, *stream])


def plan_dataset(n: int, seed: int, config: PhantomConfig) -> list[list[SlicePlan]]:
  """Splits n slices into patients and assigns anomaly kinds: exactly round(fraction * n) anomalous."""
  if n < 1:
    raise ValueError(f"n must be at least 1, got {n}")
  rng = _rng(seed, 0)
  low, high = config.slices_per_patient
  sizes = []
  while sum(sizes) < n:
    sizes.append(int(rng.integers(low, high + 1)))
  sizes[-1] -= sum(sizes) - n
  if sizes[-1] < low and len(sizes) > 1:
    # A short last patient joins the one before it, so every patient keeps several slices.
    last = sizes.pop()
    sizes[-1] += last
  anomalous = np.zeros(n, dtype=bool)
  anomalous[rng.permutation(n)[:round(config.anomaly_fraction * n)]] = True
  kinds = [anomaly_kind(rng, config) if flag else "none" for flag in anomalous]
  plans, index = [], 0
  for patient_index, size in enumerate(sizes):
    plans.append([SlicePlan(index + k, patient_index, k, kinds[index + k]) for k in range(size)])
    index += size
  return plans


def anomaly_kind(rng: np.random.Generator, config: PhantomConfig) -> str:
  """Draws the kind of an anomalous slice's anomaly."""
  if rng.random() < config.artefact_share:
    return str(rng.choice(ARTEFACT_TYPES))
  if rng.random() < config.lung_lesion_share:
    return LUNG_LESION
  return str(rng.choice(("hypodense_lesion", "hyperdense_lesion")))


def generate_slice(patient: Patient, plan: SlicePlan, z: float, config: PhantomConfig,
                   rng: np.random.Generator) -> tuple[np.ndarray, str, Lesion | None, Artefact | None]:
  """One scan of a patient at level z with its planned anomaly: (int16 HU, type, lesion, artefact)."""
  anatomy = render_anatomy(patient, z, rng, skin_markers=rng.random() < config.skin_marker_probability)
  lesion = artefact = None
  anomaly_type = plan.kind
  if plan.kind in ARTEFACT_TYPES:
    artefact = draw_artefact(plan.kind, anatomy, patient, config, rng)
  elif plan.kind != "none":
    anomaly_type, lesion = draw_lesion(anatomy, patient, plan.kind, config, rng)
  return acquire(anatomy, patient, artefact, rng), anomaly_type, lesion, artefact


def _uid(seed: int, n: int, config: PhantomConfig, *parts: object) -> str:
  """A DICOM UID derived from the dataset's identity, so the same call writes the same UIDs."""
  return str(generate_uid(entropy_srcs=["gancbam-jax phantom", str(seed), str(n), repr(config),
                                        *map(str, parts)]))


def generate_patients(n: int, seed: int, config: PhantomConfig | str = "medium"
                      ) -> Iterator[tuple[np.ndarray, list[PhantomSlice]]]:
  """Yields, patient by patient, (int16 HU slices (k, IMAGE_SIZE, IMAGE_SIZE), their records)."""
  config = resolve_config(config)
  if seed < 0:
    raise ValueError(f"seed must be non-negative, got {seed}")
  for plans in plan_dataset(n, seed, config):
    patient_index = plans[0].patient_index
    rng = _rng(seed, 1, patient_index)
    patient = sample_patient(patient_index, rng, config)
    levels = np.sort(rng.uniform(0.1, 0.95, len(plans)))
    series = {kind: _uid(seed, n, config, kind, patient_index) for kind in ("study", "series", "frame")}
    slices, records = [], []
    for plan, z in zip(plans, levels):
      hu, anomaly_type, lesion, artefact = generate_slice(patient, plan, float(z), config,
                                                          _rng(seed, 2, patient_index, plan.instance))
      slices.append(hu)
      records.append(PhantomSlice(
          index=plan.index, patient_index=patient_index, patient_id=patient.patient_id,
          instance_number=plan.instance + 1,
          slice_location_mm=round(float(patient.table_position_mm - z * patient.thorax_length_mm), 2),
          age=patient.age, sex=patient.sex, contrast=patient.contrast, contrast_tag=patient.contrast_tag,
          pixel_spacing_mm=patient.grid.spacing_mm, noise_hu=patient.noise_hu, anomaly=plan.kind != "none",
          anomaly_type=anomaly_type, lesion_row=lesion and lesion.row, lesion_col=lesion and lesion.col,
          lesion_radius_px=lesion and lesion.radius_px, lesion_diameter_mm=lesion and lesion.diameter_mm,
          lesion_contrast_hu=lesion and lesion.contrast_hu, artefact_strength=artefact and artefact.strength,
          study_uid=series["study"], series_uid=series["series"], frame_of_reference_uid=series["frame"],
          sop_uid=_uid(seed, n, config, "instance", plan.index)))
    yield np.stack(slices), records


def generate_slices(n: int, seed: int, config: PhantomConfig | str = "medium"
                    ) -> tuple[np.ndarray, list[PhantomSlice]]:
  """n slices in memory: int16 HU (n, IMAGE_SIZE, IMAGE_SIZE), outside the field of view air, and records."""
  slices, records = [], []
  for patient_slices, patient_records in generate_patients(n, seed, config):
    slices.append(patient_slices)
    records.extend(patient_records)
  return np.concatenate(slices), records


def write_dataset(out_dir: str | os.PathLike, n: int, seed: int,
                  preset: str | PhantomConfig = "medium") -> pathlib.Path:
  """Writes n slices as DICOM files plus overview.csv in the Kaggle layout; returns the CSV's path.

  preset is a name in PRESETS or a PhantomConfig. A previous (or interrupted) phantom dataset
  in out_dir is replaced; any other non-empty out_dir is refused with
  phantom_dicom.OutputDirError, so nothing else is ever deleted. overview.csv is written
  last, so its presence means the dataset is complete.
  """
  config = resolve_config(preset)
  out = pathlib.Path(out_dir).resolve()
  dicom_dir = phantom_dicom.prepare_output_dir(out)
  padding = ~field_of_view()
  records = []
  for slices, patient_records in generate_patients(n, seed, config):
    for hu, record in zip(slices, patient_records):
      phantom_dicom.write_ct_slice(dicom_dir / phantom_dicom.dicom_name(record), hu, padding, record)
    records.extend(patient_records)
  return phantom_dicom.write_overview(out, records)
