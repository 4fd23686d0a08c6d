"""HU windows (one channel each), square padding and area-averaged resize."""

import numpy as np
import pytest

from gancbam_jax.data.preprocess import (CHEST_HU_WINDOWS, PreprocessSettings, area_resize, pad_to_square,
                                         preprocess_slice, window_ct)


def test_integer_factor_resize_is_the_block_mean():
  image = np.random.default_rng(0).normal(size=(512, 512))
  out = area_resize(image, 64)
  np.testing.assert_allclose(out[3, 5], image[24:32, 40:48].mean(), rtol=1e-10)


@pytest.mark.parametrize("n_in, n_out", [(500, 64), (128, 64), (100, 128), (97, 31)])
def test_any_ratio_resize_preserves_the_mean_and_constants(n_in, n_out):
  rng = np.random.default_rng(n_in)
  image = rng.normal(size=(n_in, n_in))
  out = area_resize(image, n_out)
  assert out.shape == (n_out, n_out)
  np.testing.assert_allclose(out.mean(), image.mean(), atol=1e-9)
  np.testing.assert_allclose(area_resize(np.full((n_in, n_in), 7.0), n_out), 7.0)


def test_non_integer_resize_weights_partial_cells():
  # 3 -> 2: the first output cell covers input cells 0 and half of 1.
  out = area_resize(np.array([[0.0, 3.0, 6.0]] * 3), 2)
  np.testing.assert_allclose(out[0], [(0.0 + 0.5 * 3.0) / 1.5, (0.5 * 3.0 + 6.0) / 1.5])


def test_window_clips_to_the_hu_range():
  hu = np.array([-3000.0, -200.0, 40.0, 1000.0, 3071.0])
  np.testing.assert_array_equal(window_ct(hu, (-200.0, 1000.0)), [-200.0, -200.0, 40.0, 1000.0, 1000.0])


def test_pad_to_square_centres_the_image():
  out = pad_to_square(np.ones((2, 4)), fill=-5.0)
  assert out.shape == (4, 4)
  np.testing.assert_array_equal(out[1:3], 1.0)
  np.testing.assert_array_equal(out[[0, 3]], -5.0)


def test_preprocess_slice_is_float32_nhwc_in_the_window():
  hu = np.random.default_rng(1).uniform(-1100, 3000, size=(512, 512)).astype(np.float32)
  out = preprocess_slice(hu, PreprocessSettings(hu_windows=((-200.0, 1000.0),), image_size=128))
  assert out.shape == (128, 128, 1) and out.dtype == np.float32
  assert out.min() >= -200.0 and out.max() <= 1000.0


def test_each_window_is_one_channel_clipped_before_the_resize():
  # A nodule of -500 HU in lung of -900: the lung window keeps its contrast, the mediastinal one clips both to -200.
  hu = np.full((512, 512), -900.0, np.float32)
  hu[:8, :8] = -500.0
  settings = PreprocessSettings(hu_windows=CHEST_HU_WINDOWS, image_size=64)
  out = preprocess_slice(hu, settings)
  assert out.shape == (64, 64, 2) and settings.channels == 2
  np.testing.assert_array_equal(out[..., 0], -200.0)
  assert out[0, 0, 1] == -500.0 and out[1, 1, 1] == -900.0
  # A non-square slice is padded with each window's own floor.
  padded = preprocess_slice(np.full((256, 512), 40.0, np.float32), settings)
  assert padded[0, 0, 0] == -200.0 and padded[0, 0, 1] == -1000.0 and padded[32, 32, 0] == 40.0


@pytest.mark.parametrize("bad", [dict(hu_windows=((400.0, -1000.0),)), dict(hu_windows=()),
                                 dict(hu_windows=((-200.0, 1000.0), (0.0,))), dict(image_size=0),
                                 dict(multiframe="frames")])
def test_settings_refuse_nonsense(bad):
  with pytest.raises(ValueError):
    PreprocessSettings(**bad)


def test_fingerprint_changes_with_any_setting():
  base = PreprocessSettings()
  variants = [PreprocessSettings(hu_windows=((-1000.0, 400.0),)), PreprocessSettings(hu_windows=CHEST_HU_WINDOWS),
              PreprocessSettings(image_size=128), PreprocessSettings(multiframe="error"),
              PreprocessSettings(modalities=("CT", "MR"))]
  assert len({base.fingerprint(), *(v.fingerprint() for v in variants)}) == 6
  for settings in (base, *variants):
    assert PreprocessSettings.from_dict(settings.to_dict()) == settings


def test_settings_from_a_single_window_manifest_read_as_one_channel():
  legacy = {"hu_window": [-200.0, 1000.0], "image_size": 64, "multiframe": "slices", "modalities": ["CT"]}
  assert PreprocessSettings.from_dict(legacy) == PreprocessSettings(hu_windows=((-200.0, 1000.0),), image_size=64)
