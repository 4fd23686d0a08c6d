"""NIfTI volumes: HU from the header's scaling, axial slices in radiological orientation, refusals."""

import gzip

import nibabel
import numpy as np
import pytest

from gancbam_jax.data import PreprocessSettings, SliceReadError, read_slices

SLOPE, INTERCEPT = 2.0, -1024.0


def _write(path, stored, affine, slope=SLOPE, intercept=INTERCEPT):
  image = nibabel.Nifti1Image(stored, affine)
  image.header.set_slope_inter(slope, intercept)
  nibabel.save(image, path)
  return path


def _lps_volume():
  """A volume stored far from RAS order, with two marked corners.

  Voxel axes: 0 runs anterior -> posterior, 1 runs right -> left, 2 runs superior -> inferior;
  1.5 mm in-plane, 5 mm slices. The stored value 1000 marks the patient's right-anterior-superior
  corner, 300 the left-posterior-inferior one; the rest is a ramp so that nothing is constant.
  """
  shape = (6, 8, 4)  # (A->P, R->L, S->I)
  stored = (np.arange(np.prod(shape)).reshape(shape) % 50).astype(np.int16) + 100
  stored[0, 0, 0] = 1000  # most anterior, most right, most superior
  stored[-1, -1, -1] = 300  # most posterior, most left, most inferior
  # World (RAS) coordinates of voxel (i, j, k): x = -1.5 j (right is +x), y = -1.5 i, z = -5 k.
  affine = np.array([[0, -1.5, 0, 10], [-1.5, 0, 0, 20], [0, 0, -5.0, 30], [0, 0, 0, 1]])
  return stored, affine


def test_axial_slices_come_out_in_radiological_orientation_and_hu(tmp_path):
  stored, affine = _lps_volume()
  slices = read_slices(_write(tmp_path / "ct.nii", stored, affine), PreprocessSettings())
  assert (slices.kind, slices.values, slices.patient_id) == ("NIfTI", "HU", None)
  assert slices.hu.shape == (4, 6, 8)  # inferior -> superior; rows anterior -> posterior; columns right -> left
  assert slices.hu[-1, 0, 0] == SLOPE * 1000 + INTERCEPT  # superior slice, top left: right-anterior
  assert slices.hu[0, -1, -1] == SLOPE * 300 + INTERCEPT  # inferior slice, bottom right: left-posterior
  np.testing.assert_array_equal(slices.hu[1], SLOPE * stored[:, :, 2].astype(np.float32) + INTERCEPT)


def test_compressed_and_plain_files_and_the_canonical_layout_agree(tmp_path):
  stored, affine = _lps_volume()
  plain = read_slices(_write(tmp_path / "a.nii", stored, affine), PreprocessSettings()).hu
  compressed = read_slices(_write(tmp_path / "a.nii.gz", stored, affine), PreprocessSettings()).hu
  # The same voxels stored in RAS+ order: axis 0 left -> right, 1 posterior -> anterior, 2 inferior -> superior.
  in_ras = np.ascontiguousarray(stored.transpose(1, 0, 2)[::-1, ::-1, ::-1])
  ras = read_slices(_write(tmp_path / "ras.nii", in_ras, np.diag([1.5, 1.5, 5.0, 1.0])), PreprocessSettings()).hu
  np.testing.assert_array_equal(plain, compressed)
  np.testing.assert_array_equal(plain, ras)  # the same anatomy, however the voxels were stored


def test_padding_far_below_air_becomes_air(tmp_path):
  stored, affine = _lps_volume()
  stored[2, 3, 1] = -1500  # -4024 HU after the scaling: outside the reconstruction circle
  hu = read_slices(_write(tmp_path / "p.nii", stored, affine), PreprocessSettings()).hu
  assert hu.min() == -1000.0


def test_unusable_volumes_are_refused_with_reasons(tmp_path):
  stored, affine = _lps_volume()
  nibabel.save(nibabel.Nifti1Image(np.stack([stored, stored], axis=-1), affine), tmp_path / "4d.nii")
  data = _write(tmp_path / "whole.nii.gz", stored, affine).read_bytes()
  (tmp_path / "cut.nii.gz").write_bytes(data[: len(data) - 40])
  _write(tmp_path / "constant.nii", np.full((4, 4, 3), 5, np.int16), np.eye(4))
  with pytest.raises(SliceReadError, match="shape \\(6, 8, 4, 2\\); only 2-D slices and 3-D volumes"):
    read_slices(tmp_path / "4d.nii", PreprocessSettings())
  with pytest.raises(SliceReadError, match="unreadable NIfTI"):
    read_slices(tmp_path / "cut.nii.gz", PreprocessSettings())
  with pytest.raises(SliceReadError, match="every pixel is -1014: a constant image"):
    read_slices(tmp_path / "constant.nii", PreprocessSettings())
  with pytest.raises(SliceReadError, match="a volume of 4 slices; set data.multiframe='slices'"):
    read_slices(tmp_path / "whole.nii.gz", PreprocessSettings(multiframe="error"))
  with pytest.raises(SliceReadError, match="MiB of pixel data"):
    read_slices(tmp_path / "whole.nii.gz", PreprocessSettings(max_pixel_mib=1e-5))


def test_a_gzip_file_that_is_not_nifti_is_not_taken_for_one(tmp_path):
  (tmp_path / "notes.gz").write_bytes(gzip.compress(b"just text " * 100))
  with pytest.raises(SliceReadError, match="not a DICOM Part 10 file.*nor any other readable format"):
    read_slices(tmp_path / "notes.gz", PreprocessSettings())
