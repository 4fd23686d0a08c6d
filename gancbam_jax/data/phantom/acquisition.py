"""Acquisition: turns noise-free anatomy into a scan (blur, scanner noise, artefact, clipping)."""

from __future__ import annotations

import numpy as np

from gancbam_jax.data.phantom.anatomy import RenderedAnatomy
from gancbam_jax.data.phantom.anomalies import Artefact, noise_burst, ring_pattern, streak_pattern
from gancbam_jax.data.phantom.config import AIR_HU, MAX_HU, MIN_HU
from gancbam_jax.data.phantom.filters import correlated_noise, field_of_view, gaussian_blur
from gancbam_jax.data.phantom.patient import Patient

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
