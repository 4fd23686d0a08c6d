"""DICOM decoding to Hounsfield units: real CT files, compression, and files that must be refused."""

import csv

import numpy as np
import pydicom
import pytest
from pydicom.uid import RLELossless

from gancbam_jax.data.dicom import AIR_HU, DicomReadError, read_ct_slices


def test_siim_sample_slices_decode_to_plausible_hu(siim_root):
  with open(siim_root / "overview.csv", newline="") as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 12
  for row in rows:
    slices = read_ct_slices(siim_root / "dicom_dir" / row["dicom_name"])
    hu = slices.hu[0]
    assert hu.shape == (512, 512) and hu.dtype == np.float32
    # Air outside the body, padding mapped to air, dense bone inside: a correct rescale.
    assert hu.min() >= -1024.0, row["dicom_name"]
    assert 700.0 < hu.max() <= 3072.0, row["dicom_name"]
    assert np.mean(hu < -900) > 0.2, "too little air: the rescale is wrong"
    body = hu[hu > -500]
    assert -150.0 < np.median(body) < 150.0, f"{row['dicom_name']}: body median {np.median(body)} is not soft tissue"
    assert slices.patient_id and slices.patient_id.startswith("TCGA-")


def test_intercept_zero_slice_is_not_shifted(siim_root):
  path = siim_root / "dicom_dir" / "ID_0052_AGE_0072_CONTRAST_0_CT.dcm"
  ds = pydicom.dcmread(path)
  assert float(ds.RescaleIntercept) == 0.0  # The fixture's point: stored values are already HU.
  stored = ds.pixel_array.astype(np.float32)
  hu = read_ct_slices(path).hu[0]
  np.testing.assert_array_equal(hu, np.where(stored < -1500, AIR_HU, stored))
  assert -1024.0 <= hu.min() < -900.0 and np.median(hu[hu > -500]) > -150.0


def test_pixel_padding_value_is_mapped_to_air(siim_root):
  # ID_0053 pads outside the field of view with its PixelPaddingValue -2000 (-3024 HU).
  path = siim_root / "dicom_dir" / "ID_0053_AGE_0073_CONTRAST_0_CT.dcm"
  ds = pydicom.dcmread(path)
  padded = ds.pixel_array == int(ds.PixelPaddingValue)
  assert padded.mean() > 0.05
  hu = read_ct_slices(path).hu[0]
  assert np.all(hu[padded] == AIR_HU)


def test_padding_value_written_unsigned_for_signed_pixels(write_ct, tmp_path):
  # Files write PixelPaddingValue 63536 (unsigned) for signed pixels padded with -2000, like ID_0051.
  path = write_ct(tmp_path / "pad.dcm", "P1")
  ds = pydicom.dcmread(path)
  pixels = ds.pixel_array.copy()
  pixels[:10] = -1200  # With intercept 0 this is -1200 HU: above the far-below rule, so only padding applies.
  ds.PixelData = pixels.tobytes()
  ds.RescaleIntercept = 0
  ds["PixelPaddingValue"] = pydicom.DataElement(0x00280120, "US", 65536 - 1200)
  ds.save_as(path)
  hu = read_ct_slices(path).hu[0]
  assert np.all(hu[:10] == AIR_HU)
  np.testing.assert_array_equal(hu[10:], np.where(pixels[10:] < -1500, AIR_HU, pixels[10:]))


def test_sentinel_far_below_air_is_mapped_to_air(siim_root):
  # ID_0050 pads at -2048 HU without saying so in PixelPaddingValue.
  path = siim_root / "dicom_dir" / "ID_0050_AGE_0074_CONTRAST_0_CT.dcm"
  ds = pydicom.dcmread(path)
  sentinel = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept) < -1500
  assert sentinel.mean() > 0.05
  assert np.all(read_ct_slices(path).hu[0][sentinel] == AIR_HU)


def test_bundled_ct_small_matches_modality_rescale(bundled_dicom):
  path = bundled_dicom("CT_small.dcm")
  ds = pydicom.dcmread(path)
  expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
  hu = read_ct_slices(path).hu[0]
  assert hu.shape == (128, 128)
  keep = expected >= -1500
  np.testing.assert_allclose(hu[keep], expected[keep], atol=1e-3)


def test_jpeg2000_ct_decodes(bundled_dicom):
  path = bundled_dicom("693_J2KI.dcm")
  assert pydicom.dcmread(path).file_meta.TransferSyntaxUID.is_compressed
  hu = read_ct_slices(path).hu[0]
  assert hu.shape == (512, 512)
  assert hu.min() >= -1500 and hu.max() > 500
  assert np.mean(hu <= -900) > 0.1 and np.mean(np.abs(hu) < 200) > 0.1  # Air and soft tissue both present.


def test_rle_compressed_ct_equals_uncompressed(bundled_dicom, tmp_path):
  ds = pydicom.dcmread(bundled_dicom("CT_small.dcm"))
  ds.compress(RLELossless)
  ds.save_as(tmp_path / "rle.dcm")
  assert pydicom.dcmread(tmp_path / "rle.dcm").file_meta.TransferSyntaxUID == RLELossless
  np.testing.assert_array_equal(read_ct_slices(tmp_path / "rle.dcm").hu, read_ct_slices(bundled_dicom("CT_small.dcm")).hu)


def test_monochrome1_is_inverted_so_dense_stays_high(bundled_dicom, tmp_path):
  ds = pydicom.dcmread(bundled_dicom("CT_small.dcm"))
  bits = int(ds.BitsStored)
  low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
  ds.PixelData = ((low + high) - ds.pixel_array.astype(np.int32)).astype(np.int16).tobytes()
  ds.PixelPaddingValue = (low + high) - int(ds.PixelPaddingValue)  # Padding refers to stored values.
  ds.PhotometricInterpretation = "MONOCHROME1"
  ds.save_as(tmp_path / "mono1.dcm")
  np.testing.assert_array_equal(read_ct_slices(tmp_path / "mono1.dcm").hu,
                                read_ct_slices(bundled_dicom("CT_small.dcm")).hu)


def test_unsigned_12_bit_storage(bundled_dicom, tmp_path):
  ds = pydicom.dcmread(bundled_dicom("CT_small.dcm"))
  hu = read_ct_slices(bundled_dicom("CT_small.dcm")).hu[0]
  stored = np.clip(hu + 1024, 0, 4095).astype(np.uint16)  # 12-bit stored, unsigned, intercept -1024.
  ds.PixelRepresentation, ds.BitsStored, ds.HighBit = 0, 12, 11
  ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
  ds.PixelData = stored.tobytes()
  ds.save_as(tmp_path / "u12.dcm")
  np.testing.assert_allclose(read_ct_slices(tmp_path / "u12.dcm").hu[0], stored.astype(np.float32) - 1024)


@pytest.mark.parametrize("name, expected", [
    ("rtplan.dcm", "no pixel data"),
    ("no_meta.dcm", "not a DICOM Part 10 file"),
    ("MR_small_RLE.dcm", "Modality is 'MR'"),
    ("SC_rgb_rle.dcm", "Modality is 'OT'"),
])
def test_unusable_bundled_files_are_refused_with_reason(bundled_dicom, name, expected):
  path = bundled_dicom(name)
  with pytest.raises(DicomReadError, match=expected) as error:
    read_ct_slices(path)
  assert str(path) in str(error.value)


def test_colour_image_is_refused(bundled_dicom):
  with pytest.raises(DicomReadError, match="colour image"):
    read_ct_slices(bundled_dicom("SC_rgb_rle.dcm"), modalities=("OT",))


def test_truncated_pixel_data_is_refused(bundled_dicom, tmp_path):
  data = bundled_dicom("CT_small.dcm").read_bytes()
  (tmp_path / "cut.dcm").write_bytes(data[: len(data) - 5000])
  with pytest.raises(DicomReadError, match="truncated"):
    read_ct_slices(tmp_path / "cut.dcm")


def test_text_file_is_not_dicom(tmp_path):
  (tmp_path / "notes.dcm").write_text("patient notes, not an image\n")
  with pytest.raises(DicomReadError, match="not a DICOM"):
    read_ct_slices(tmp_path / "notes.dcm")


def test_multiframe_gives_one_slice_per_frame_or_refuses(write_ct, tmp_path):
  path = write_ct(tmp_path / "multi.dcm", "P1", frames=3)
  hu = read_ct_slices(path).hu
  assert hu.shape == (3, 128, 128)
  inside = hu[0] > -900
  np.testing.assert_allclose(hu[2][inside] - hu[0][inside], 20.0, atol=1e-3)
  with pytest.raises(DicomReadError, match="multi-frame file \\(3 frames\\)"):
    read_ct_slices(path, multiframe="error")
