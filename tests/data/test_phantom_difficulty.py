"""The phantom's anomalies are visible by construction at the default input (HU windows and size)."""

import dataclasses

import numpy as np
import pytest

from configs import default
from gancbam_jax.data import phantom
from gancbam_jax.data.phantom import difficulty
from gancbam_jax.data.preprocess import DEFAULT_HU_WINDOW, PreprocessSettings, area_resize
from gancbam_jax.data.source import preprocess_settings

DEFAULT_INPUT = preprocess_settings(default.get_config().data)
# Half artefacts, so every anomaly type appears in a few dozen slices.
EVERY_TYPE = dict(artefact_share=0.5)


@pytest.fixture(scope="module")
def medium_visibility():
  config = dataclasses.replace(phantom.PRESETS["medium"], **EVERY_TYPE)
  return difficulty.anomaly_visibility(64, 5, config, DEFAULT_INPUT)


def test_every_anomaly_type_has_contrast_at_the_default_window_and_size(medium_visibility):
  summary = difficulty.summarise(medium_visibility)
  assert set(summary) == set(phantom.ANOMALY_TYPES) - {"none"}
  assert all(v.best_cnr > 0 for v in medium_visibility)
  for kind, figures in summary.items():
    assert figures["median_cnr"] >= 1.5, (kind, figures)


def test_the_lung_window_shows_nodules_the_mediastinal_window_clips():
  # Ground-glass nodules (about -600 to -400 HU) lie below the mediastinal window's -200 HU floor.
  ground_glass = dataclasses.replace(phantom.PRESETS["medium"], artefact_share=0.0, lung_lesion_share=1.0,
                                     part_solid_share=1.0, lesion_diameter_mm=(20.0, 28.0))
  mediastinal = PreprocessSettings(hu_windows=(DEFAULT_HU_WINDOW,), image_size=DEFAULT_INPUT.image_size)
  both = difficulty.anomaly_visibility(8, 6, ground_glass, DEFAULT_INPUT)
  alone = difficulty.anomaly_visibility(8, 6, ground_glass, mediastinal)
  lung_window = DEFAULT_INPUT.hu_windows.index((-1000.0, 400.0))
  for with_lung, without in zip(both, alone):
    assert with_lung.cnr[lung_window] > 2 * without.best_cnr


def test_lesions_are_clearer_in_easier_presets():
  lesions = dict(artefact_share=0.0)
  medians = [np.median([v.best_cnr for v in difficulty.anomaly_visibility(
      24, 8, dataclasses.replace(phantom.PRESETS[name], **lesions), DEFAULT_INPUT)]) for name in ("easy", "medium", "hard")]
  assert medians[0] > medians[1] > medians[2], medians


def test_rings_and_noise_bursts_keep_their_strength_at_a_64_pixel_input():
  # Thin rings and fine-grained noise, spread over single pixels at 512, would be averaged away by
  # the resize: each ring keeps its peak, each burst most of its standard deviation.
  config = dataclasses.replace(phantom.PRESETS["medium"], artefact_share=1.0, anomaly_fraction=1.0)
  hu, records = phantom.generate_slices(32, 4, config)
  clean, _ = phantom.generate_slices(32, 4, dataclasses.replace(config, anomaly_fraction=0.0))
  kept = {"ring": [], "noise_burst": []}
  for image, reference, record in zip(hu, clean, records):
    if record.anomaly_type not in kept:
      continue
    scanned = (reference > -990) & phantom.field_of_view()  # body and lungs, where no clipping hides it
    signal = np.where(scanned, image.astype(np.float32) - reference, 0.0)
    small, inside = area_resize(signal, 64), area_resize(scanned.astype(np.float32), 64) == 1.0
    if record.anomaly_type == "ring":
      kept["ring"].append(np.abs(small[inside]).max() / np.abs(signal[scanned]).max())
    else:
      kept["noise_burst"].append(small[inside].std() / signal[scanned].std())
  assert all(kept.values()), kept
  assert min(kept["ring"]) > 0.8, kept
  assert min(kept["noise_burst"]) > 0.6, kept


def test_contrast_to_noise_is_zero_without_signal_and_scales_with_it():
  signal = np.zeros((8, 8, 2), np.float32)
  assert difficulty.contrast_to_noise(signal, np.array([5.0, 5.0])) == (0.0, 0.0)
  signal[2:4, 2:4, 1] = 30.0
  assert difficulty.contrast_to_noise(signal, np.array([5.0, 10.0])) == (0.0, 3.0)
