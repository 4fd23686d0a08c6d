"""Anatomy of one slice: organ layout at a level z and the noise-free rendering in HU.

Slice levels z run from 0 (thoracic inlet) to 1 (lung bases, liver dome).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from gancbam_jax.data.phantom.config import AIR_HU, IMAGE_SIZE, MAX_HU
from gancbam_jax.data.phantom.filters import smooth_field
from gancbam_jax.data.phantom.geometry import Capsule, Ellipse, Grid, Torso, paint, shape_mask
from gancbam_jax.data.phantom.patient import Patient, TissueHU


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
  """A noise-free slice in HU with the masks that anomalies are placed in.

  solid_organs covers the organs a soft-tissue lesion grows in (liver, spleen, heart, paraspinal
  muscles, those present at the level): homogeneous enough that a lesion shows against them,
  unlike the vessels and fat of the mediastinum.
  """

  hu: np.ndarray
  body: np.ndarray
  lungs: np.ndarray
  solid_organs: np.ndarray


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


def paint_bone(image: np.ndarray, grid: Grid, shape: Ellipse | Capsule, tissue: TissueHU, cortex_mm: float) -> None:
  """Paints a bone: dense cortex around trabecular (marrow) bone."""
  paint(image, grid, shape, tissue.cortex)
  paint(image, grid, shape.shrunk(cortex_mm), tissue.trabecular)


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
  return RenderedAnatomy(image, body, lungs, solid_organ_mask(grid, layout, cavity))


def solid_organ_mask(grid: Grid, layout: SliceLayout, cavity: np.ndarray) -> np.ndarray:
  """Liver, spleen and heart (inside the chest cavity) and the paraspinal muscles at this level."""
  mask = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
  for organ in (layout.liver, layout.spleen, layout.heart):
    if organ is not None:
      paint(mask, grid, organ, True, where=cavity)
  for muscle in layout.paraspinal:
    paint(mask, grid, muscle, True)
  return mask
