"""Synthetic patients: anatomy shared by all their slices, tissue densities and acquisition settings."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from gancbam_jax.data.phantom.config import IMAGE_SIZE, PATIENT_ID_PREFIX, PhantomConfig
from gancbam_jax.data.phantom.geometry import Ellipse, Grid, TableTop, Torso


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
