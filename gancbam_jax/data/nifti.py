"""Decode NIfTI volumes (.nii, .nii.gz) into axial CT slices, through nibabel.

Values are Hounsfield units after the header's scaling (scl_slope, scl_inter), padding below
PADDING_BELOW_HU set to air as for DICOM. The volume is reoriented to RAS+ by its affine, and
each axial slice is returned as a radiologist views it and as DICOM stores it: rows run from
anterior to posterior, columns from the patient's right to left, and slices from inferior to
superior. So a volume gives the same images whatever order its voxels were stored in.
"""

from __future__ import annotations

import gzip
import io
import os
import pathlib
import zlib

import nibabel
import numpy as np
from nibabel import orientations
from nibabel.filebasedimages import ImageFileError
from nibabel.spatialimages import HeaderDataError

from gancbam_jax.data.decoded import CtSlices, SliceReadError, air_below_padding, check_pixel_budget, check_plausible

GZIP_MAGIC = b"\x1f\x8b"
NIFTI1_MAGIC_AT_344, NIFTI2_MAGIC_AT_4 = b"n+1\x00", b"n+2\x00"
PAIR_MAGIC_AT_344 = b"ni1\x00"  # a .hdr/.img pair's header: the image lives in another file
_HEADER_BYTES = 544  # a NIfTI-2 header (540) plus its extension flag; NIfTI-1's is 348 + 4
_ERRORS = (HeaderDataError, ImageFileError, OSError, EOFError, ValueError, zlib.error, MemoryError)


def nifti_magic(head: bytes) -> type | None:
  """The nibabel image class of an uncompressed NIfTI header, or None when `head` is not one."""
  if head[344:348] == NIFTI1_MAGIC_AT_344:
    return nibabel.Nifti1Image
  if head[4:8] == NIFTI2_MAGIC_AT_4:
    return nibabel.Nifti2Image
  return None


def gzipped_head(data: bytes, size: int = _HEADER_BYTES) -> bytes:
  """The first `size` bytes of gzip-compressed `data` (b"" when they cannot be decompressed)."""
  try:
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
      return stream.read(size)
  except (OSError, EOFError, zlib.error):
    return b""


def _volume_shape(header, path) -> tuple[int, ...]:
  """The header's shape as (x, y, z), refusing more than three non-trivial dimensions."""
  shape = tuple(int(n) for n in header.get_data_shape())
  while len(shape) > 3 and shape[-1] == 1:
    shape = shape[:-1]
  if len(shape) > 3 or len(shape) < 2:
    raise SliceReadError(path, f"a NIfTI image of shape {shape}; only 2-D slices and 3-D volumes are CT (a 4-D file "
                         "is a time series or has channels: split it into one volume per file)")
  return shape


def read_nifti_slices(path: str | os.PathLike, *, data: bytes | None = None, multiframe: str = "slices",
                      max_pixel_bytes: int = 1 << 30) -> CtSlices:
  """Reads a NIfTI-1 or NIfTI-2 file, gzip-compressed or not, as axial slices in HU.

  Args:
    path: the file; named in every error.
    data: the file's bytes when the caller has already read them.
    multiframe: "slices" turns each axial slice into a slice; "error" refuses volumes of more than one.
    max_pixel_bytes: the most voxel data the header may declare, checked before decompressing it all.

  Raises:
    SliceReadError: not NIfTI, corrupt or truncated, more than 3-D, too large, or values not finite
      or constant over the whole volume (a constant slice at the volume's ends is kept).
  """
  data = pathlib.Path(path).read_bytes() if data is None else data
  compressed = data[:2] == GZIP_MAGIC
  head = gzipped_head(data) if compressed else data[:_HEADER_BYTES]
  image_class = nifti_magic(head)
  if image_class is None:
    raise SliceReadError(path, "not a NIfTI-1 or NIfTI-2 file (no 'n+1' or 'n+2' magic); a .hdr/.img pair must be "
                         "converted to one .nii file first")
  try:
    header = image_class.header_class.from_fileobj(io.BytesIO(head))
    shape = _volume_shape(header, path)
    check_pixel_budget(path, shape, header.get_data_dtype().itemsize, max_pixel_bytes)
    if multiframe == "error" and len(shape) == 3 and shape[2] > 1:
      raise SliceReadError(path, f"a volume of {shape[2]} slices; set data.multiframe='slices' to use each axial "
                           "slice as a slice")
    image = image_class.from_bytes(gzip.decompress(data) if compressed else data)
    values = image.get_fdata(dtype=np.float32).reshape(shape)
  except SliceReadError:
    raise
  except _ERRORS as e:
    raise SliceReadError(path, f"unreadable NIfTI ({type(e).__name__}: {e}); the file is probably truncated or "
                         "corrupt") from e
  if values.ndim == 2:
    values = values[..., np.newaxis]
  ras = orientations.apply_orientation(values, orientations.io_orientation(image.affine))
  # RAS+ voxel (x, y, z) -> slice z, row from anterior (high y), column from the right (high x).
  slices = np.ascontiguousarray(np.transpose(ras[::-1, ::-1, :], (2, 1, 0)), dtype=np.float32)
  check_plausible(slices, path, each_frame=False)
  return CtSlices(hu=air_below_padding(slices), patient_id=None, sop_instance_uid=None, kind="NIfTI")
