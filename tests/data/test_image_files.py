"""PNG, JPEG and TIFF slices: bit depths, the stated rescale, colour, refusals with reasons."""

import struct

import numpy as np
import pytest
from PIL import Image

from gancbam_jax.data import PreprocessSettings, SliceReadError, read_slices
from gancbam_jax.data.readers import sniff_format

HU_PLUS_1024 = (1.0, -1024.0)


def _ramp(dtype, rows=40, cols=56, top=4000):
  """A (rows, cols) image whose values climb from 0 to about `top`, so nothing is constant."""
  return (np.arange(rows * cols).reshape(rows, cols) * (top / (rows * cols))).astype(dtype)


def _read(path, rescale=HU_PLUS_1024, **settings):
  return read_slices(path, PreprocessSettings(image_rescale=rescale, **settings))


@pytest.mark.parametrize("fmt,suffix", [("PNG", "png"), ("TIFF", "tif")])
def test_16_bit_grayscale_keeps_every_value_through_the_rescale(tmp_path, fmt, suffix):
  stored = _ramp(np.uint16, top=3000)
  Image.fromarray(stored).save(tmp_path / f"slice.{suffix}")
  slices = _read(tmp_path / f"slice.{suffix}")
  assert (slices.kind, slices.values, slices.colour) == (fmt, "16-bit", False)
  np.testing.assert_array_equal(slices.hu[0], stored.astype(np.float32) - 1024)


def _signed_16_bit_tiff(pixels: np.ndarray) -> bytes:
  """A baseline little-endian TIFF of int16 pixels (SampleFormat 2), which Pillow cannot write itself."""
  rows, cols = pixels.shape
  data = pixels.astype("<i2").tobytes()
  short, long = 3, 4  # TIFF field types
  tags = [(256, short, cols), (257, short, rows), (258, short, 16), (259, short, 1), (262, short, 1),
          (273, long, 8), (277, short, 1), (278, short, rows), (279, long, len(data)), (339, short, 2)]
  entries = b"".join(struct.pack("<HHII", tag, kind, 1, value) if kind == long else
                     struct.pack("<HHIHH", tag, kind, 1, value, 0) for tag, kind, value in tags)
  return b"II*\x00" + struct.pack("<I", 8 + len(data)) + data + struct.pack("<H", len(tags)) + entries + bytes(4)


def test_signed_16_bit_tiff_is_named_signed_and_keeps_negative_values(tmp_path):
  stored = _ramp(np.int16, top=2000) - 1000
  (tmp_path / "hu.tif").write_bytes(_signed_16_bit_tiff(stored))
  slices = _read(tmp_path / "hu.tif", rescale=(1.0, 0.0))
  assert slices.values == "16-bit signed"
  np.testing.assert_array_equal(slices.hu[0], stored.astype(np.float32))
  Image.fromarray(stored.astype(np.int32)).save(tmp_path / "wide.tif")  # what Pillow writes for int arrays
  assert _read(tmp_path / "wide.tif", rescale=(1.0, 0.0)).values == "32-bit"


def test_8_bit_png_and_jpeg_with_the_identity(tmp_path):
  stored = _ramp(np.uint8, top=255)
  Image.fromarray(stored).save(tmp_path / "a.png")
  Image.fromarray(stored).save(tmp_path / "a.jpg", quality=95)
  png, jpeg = _read(tmp_path / "a.png", (1.0, 0.0)), _read(tmp_path / "a.jpg", (1.0, 0.0))
  assert (png.kind, png.values, jpeg.kind, jpeg.values) == ("PNG", "8-bit", "JPEG", "8-bit")
  np.testing.assert_array_equal(png.hu[0], stored)
  assert np.abs(jpeg.hu[0] - stored).mean() < 2  # lossy, but the same picture


def test_colour_becomes_luma_and_gray_saved_as_rgb_stays_gray(tmp_path):
  rng = np.random.default_rng(0)
  rgb = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
  Image.fromarray(rgb).save(tmp_path / "colour.png")
  Image.fromarray(np.concatenate([rgb, np.full((24, 32, 1), 128, np.uint8)], axis=-1)).save(tmp_path / "rgba.png")
  gray = _ramp(np.uint8, 24, 32, 255)
  Image.fromarray(np.stack([gray] * 3, axis=-1)).save(tmp_path / "gray_as_rgb.png")

  colour = _read(tmp_path / "colour.png", (1.0, 0.0))
  luma = rgb @ np.array([0.299, 0.587, 0.114])
  assert colour.colour and colour.values == "8-bit"
  assert np.abs(colour.hu[0] - luma).max() <= 1  # Pillow's integer luma rounds
  np.testing.assert_array_equal(_read(tmp_path / "rgba.png", (1.0, 0.0)).hu, colour.hu)  # alpha ignored
  as_rgb = _read(tmp_path / "gray_as_rgb.png", (1.0, 0.0))
  assert not as_rgb.colour
  np.testing.assert_array_equal(as_rgb.hu[0], gray)


def test_strict_settings_refuse_colour(tmp_path):
  Image.fromarray(np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(tmp_path / "c.png")
  with pytest.raises(SliceReadError, match="colour PNG image.*strict mode"):
    _read(tmp_path / "c.png", colour_to_gray=False)


def test_an_image_without_a_stated_rescale_is_refused_naming_the_setting(tmp_path):
  Image.fromarray(_ramp(np.uint16)).save(tmp_path / "s.png")
  with pytest.raises(SliceReadError, match=r"carries no Hounsfield units; set data.image_rescale") as error:
    read_slices(tmp_path / "s.png", PreprocessSettings())
  assert error.value.path == str(tmp_path / "s.png")


def test_multi_page_tiff_gives_one_slice_per_page_or_is_refused(tmp_path):
  pages = [Image.fromarray(_ramp(np.uint16) + np.uint16(100 * k)) for k in range(3)]
  pages[0].save(tmp_path / "stack.tif", save_all=True, append_images=pages[1:])
  slices = _read(tmp_path / "stack.tif")
  assert slices.hu.shape == (3, 40, 56)
  np.testing.assert_array_equal(slices.hu[2] - slices.hu[0], 200)
  with pytest.raises(SliceReadError, match="multi-page TIFF \\(3 pages\\)"):
    _read(tmp_path / "stack.tif", multiframe="error")


def test_broken_blank_and_oversized_images_are_refused_with_reasons(tmp_path):
  Image.fromarray(_ramp(np.uint16)).save(tmp_path / "whole.png")
  data = (tmp_path / "whole.png").read_bytes()
  (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
  Image.fromarray(np.full((16, 16), 7, np.uint8)).save(tmp_path / "blank.png")
  with pytest.raises(SliceReadError, match="unreadable PNG image.*truncated"):
    _read(tmp_path / "cut.png")
  with pytest.raises(SliceReadError, match="every pixel is -1017: a constant image"):
    _read(tmp_path / "blank.png")
  with pytest.raises(SliceReadError, match="MiB of pixel data .* above the limit"):
    _read(tmp_path / "whole.png", max_pixel_mib=0.001)


def test_formats_are_told_apart_by_content_not_name(tmp_path, bundled_dicom):
  Image.fromarray(_ramp(np.uint8)).save(tmp_path / "really_a.png", format="PNG")
  (tmp_path / "really_a.png").rename(tmp_path / "misnamed.dcm")
  assert _read(tmp_path / "misnamed.dcm", (1.0, 0.0)).kind == "PNG"
  assert sniff_format(bundled_dicom("CT_small.dcm").read_bytes()) == "DICOM"
  assert sniff_format(b"plain text, no format at all" * 20) == "DICOM"  # whose reader then refuses it by name
