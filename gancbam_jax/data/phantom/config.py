"""Phantom constants, the dataset parameters (PhantomConfig) and their named presets."""

from __future__ import annotations

import dataclasses

from gancbam_jax.data.decoded import AIR_HU  # noqa: F401  (re-exported: the phantom paints air with it)

IMAGE_SIZE = 512
# Bump when a seed's slices change, so datasets generated into the cache by older code are not reused.
GENERATOR_VERSION = 5
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
    nodule_contrast_hu: how much denser than the lung parenchyma (about -880 HU) a lung lesion's
      solid part is: about 850-950 for a solid nodule (soft-tissue density, -30 to +70 HU).
    part_solid_share: share of lung lesions that are part-solid: a ground-glass halo (30-55 % of
      that contrast, about -600 to -400 HU) around a solid core of 30-60 % of the diameter.
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
  # Medium is sized for the default 128 x 128 input: its smallest lesion spans 3-4 pixels there
  # (0.6-0.9 mm pixels at 512, so 2.4-3.6 mm at 128), its median about 7.
  lesion_diameter_mm: Range = (12.0, 45.0)
  nodule_contrast_hu: Range = (800.0, 950.0)
  part_solid_share: float = 0.3
  # A cyst or abscess in an enhanced liver (about 100 HU below it) at the upper end; fainter
  # metastases (40-100 HU) are the hard preset's.
  lesion_contrast_hu: Range = (80.0, 160.0)
  anomaly_fraction: float = 0.5
  artefact_share: float = 0.3
  lung_lesion_share: float = 0.6
  miscalibration_hu: Range = (30.0, 80.0)
  ring_amplitude_hu: Range = (40.0, 90.0)
  streak_amplitude_hu: Range = (80.0, 250.0)
  noise_burst_factor: Range = (3.0, 5.0)
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
    "easy": PhantomConfig(noise_hu=(8.0, 12.0), lesion_diameter_mm=(20.0, 60.0),
                          nodule_contrast_hu=(850.0, 950.0), part_solid_share=0.0, lesion_contrast_hu=(150.0, 250.0),
                          miscalibration_hu=(80.0, 150.0), ring_amplitude_hu=(150.0, 300.0),
                          streak_amplitude_hu=(200.0, 400.0), noise_burst_factor=(8.0, 14.0)),
    "medium": PhantomConfig(),
    # Small, faint lesions and subtle artefacts in noisy images; most nodules part-solid.
    "hard": PhantomConfig(noise_hu=(12.0, 22.0), lesion_diameter_mm=(10.0, 30.0),
                          nodule_contrast_hu=(750.0, 950.0), part_solid_share=0.6, lesion_contrast_hu=(70.0, 130.0),
                          miscalibration_hu=(15.0, 40.0), ring_amplitude_hu=(40.0, 80.0),
                          streak_amplitude_hu=(40.0, 120.0), noise_burst_factor=(3.0, 4.5)),
}


def resolve_config(preset_or_config: str | PhantomConfig) -> PhantomConfig:
  """Returns the config itself, or the preset of that name."""
  if isinstance(preset_or_config, PhantomConfig):
    return preset_or_config
  if preset_or_config not in PRESETS:
    raise ValueError(f"unknown phantom preset {preset_or_config!r}; choose one of {sorted(PRESETS)}")
  return PRESETS[preset_or_config]
