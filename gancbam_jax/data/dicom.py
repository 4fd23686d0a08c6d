"""Decode DICOM CT files into Hounsfield-unit slices.

One function, `read_ct_slices`, turns a file into float32 HU frames plus the few identifiers the
pipeline needs (patient and instance UIDs). Everything that can go wrong with a real file (not
DICOM, truncated, no pixel data, colour, wrong modality, undecodable compression) raises
`DicomReadError` with the file's path and what to do, so callers can skip it with that reason
or stop, as configured.
"""

from __future__ import annotations

import dataclasses
import io
import os
from typing import Sequence

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

# Water is 0 HU and air -1000 HU by definition of the scale.
AIR_HU = -1000.0
# Scanners store the region outside the reconstruction circle as a sentinel far below air
# (-2000, -2048 and -3024 HU in the SIIM sample); no tissue, and no air with noise, lies there.
PADDING_BELOW_HU = -1500.0

_PIXEL_DATA_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


class DicomReadError(ValueError):
  """A file that cannot be turned into CT slices; the message names the file and the fix."""

  def __init__(self, path: str | os.PathLike, reason: str):
    super().__init__(f"{os.fspath(path)}: {reason}")
    self.path = os.fspath(path)
    self.reason = reason


@dataclasses.dataclass(frozen=True)
class CtSlices:
  """The decoded frames of one DICOM file, in Hounsfield units.

  Attributes:
    hu: float32 array (frames, rows, columns) in HU, padding mapped to air.
    patient_id: DICOM PatientID, or None where the file has none.
    sop_instance_uid: DICOM SOPInstanceUID, or None.
  """

  hu: np.ndarray
  patient_id: str | None
  sop_instance_uid: str | None


def read_ct_slices(
    path: str | os.PathLike,
    *,
    data: bytes | None = None,
    multiframe: str = "slices",
    modalities: Sequence[str] = ("CT",),
) -> CtSlices:
  """Reads a DICOM file and returns its frames in Hounsfield units.

  Args:
    path: the DICOM file; named in every error.
    data: the file's bytes when the caller has already read them (to hash them, say); then `path`
      is not read again.
    multiframe: "slices" turns each frame of a multi-frame file into a slice; "error" refuses
      multi-frame files.
    modalities: accepted values of the Modality attribute. HU are defined for CT only; widen it
      only for data whose rescale yields HU-like values.

  Raises:
    DicomReadError: the file cannot be read or is not a single-channel image of an accepted
      modality; the message says why.
  """
  if multiframe not in ("slices", "error"):
    raise ValueError(f"multiframe must be 'slices' or 'error', got {multiframe!r}")
  ds = _read_dataset(path, data)
  _check_is_ct_image(ds, path, modalities)
  n_frames = int(ds.get("NumberOfFrames", 1) or 1)
  if n_frames > 1 and multiframe == "error":
    raise DicomReadError(path, f"multi-frame file ({n_frames} frames); set data.multiframe='slices' "
                         "to use each frame as a slice")
  try:
    stored = ds.pixel_array
  except Exception as e:  # pydicom raises many types; each means the same thing here.
    raise DicomReadError(path, f"pixel data could not be decoded ({type(e).__name__}: {e}); the file "
                         "may be truncated, or its compression needs pylibjpeg plugins") from e
  stored = np.asarray(stored)
  if n_frames == 1:
    stored = stored[np.newaxis]
  if stored.ndim != 3:
    raise DicomReadError(path, f"unexpected pixel array shape {stored.shape} for {n_frames} frame(s)")
  hu = hounsfield_units(stored, ds, path)
  return CtSlices(hu=hu, patient_id=_text_or_none(ds.get("PatientID")),
                  sop_instance_uid=_text_or_none(ds.get("SOPInstanceUID")))


def hounsfield_units(stored: np.ndarray, ds: pydicom.Dataset, path: str | os.PathLike = "<dataset>") -> np.ndarray:
  """Maps stored pixel values (frames, rows, cols) to float32 HU with padding set to air.

  HU = stored * RescaleSlope + RescaleIntercept. MONOCHROME1 images (where a high value is
  dark) are inverted within the stored range first, so high HU is always dense.
  """
  padding = _padding_mask(stored, ds)
  values = stored.astype(np.float64)
  if ds.get("PhotometricInterpretation") == "MONOCHROME1":
    lowest, highest = _stored_range(ds)
    values = (lowest + highest) - values
  slope, intercept = _rescale(ds, path)
  hu = values * slope + intercept
  hu[padding | (hu < PADDING_BELOW_HU)] = AIR_HU
  return hu.astype(np.float32)


def _read_dataset(path: str | os.PathLike, data: bytes | None) -> pydicom.Dataset:
  try:
    return pydicom.dcmread(path if data is None else io.BytesIO(data))
  except InvalidDicomError as e:
    raise DicomReadError(path, "not a DICOM Part 10 file (no 'DICM' preamble or file meta "
                         "information); remove it from the dataset or re-export it from the PACS") from e
  except (OSError, EOFError, ValueError, KeyError, TypeError) as e:
    raise DicomReadError(path, f"unreadable DICOM ({type(e).__name__}: {e}); the file is probably "
                         "truncated or corrupt") from e


def _check_is_ct_image(ds: pydicom.Dataset, path, modalities: Sequence[str]) -> None:
  if not any(keyword in ds for keyword in _PIXEL_DATA_KEYWORDS):
    sop_class = getattr(ds.get("SOPClassUID"), "name", ds.get("SOPClassUID", "unknown"))
    raise DicomReadError(path, f"no pixel data (SOP class {sop_class}); it is not an image")
  modality = ds.get("Modality")
  if modality not in modalities:
    raise DicomReadError(path, f"Modality is {modality!r}, not one of {list(modalities)}; Hounsfield "
                         "units are defined for CT only (data.modalities widens this)")
  samples = int(ds.get("SamplesPerPixel", 1) or 1)
  photometric = ds.get("PhotometricInterpretation", "MONOCHROME2")
  if samples != 1 or photometric not in ("MONOCHROME1", "MONOCHROME2"):
    raise DicomReadError(path, f"colour image (PhotometricInterpretation {photometric}, "
                         f"{samples} samples per pixel); only single-channel CT is supported")


def _stored_range(ds: pydicom.Dataset) -> tuple[int, int]:
  bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)))
  if int(ds.get("PixelRepresentation", 0)) == 1:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
  return 0, (1 << bits) - 1


def _as_stored_value(value: int, ds: pydicom.Dataset) -> int:
  """Reads a padding value the way the pixels are stored.

  Files often write PixelPaddingValue as unsigned (63536) for signed pixels (-2000).
  """
  value = int(value)
  bits = int(ds.get("BitsAllocated", 16))
  if int(ds.get("PixelRepresentation", 0)) == 1 and value >= 1 << (bits - 1):
    value -= 1 << bits
  return value


def _padding_mask(stored: np.ndarray, ds: pydicom.Dataset) -> np.ndarray:
  if "PixelPaddingValue" not in ds or ds.PixelPaddingValue is None:
    return np.zeros(stored.shape, dtype=bool)
  pad = _as_stored_value(ds.PixelPaddingValue, ds)
  if ds.get("PixelPaddingRangeLimit") is not None:
    limit = _as_stored_value(ds.PixelPaddingRangeLimit, ds)
    return (stored >= min(pad, limit)) & (stored <= max(pad, limit))
  return stored == pad


def _rescale(ds: pydicom.Dataset, path) -> tuple[float, float]:
  """RescaleSlope/Intercept from the top level or, in enhanced CT, the shared functional groups."""
  source = ds
  if "RescaleIntercept" not in ds and "SharedFunctionalGroupsSequence" in ds:
    shared = ds.SharedFunctionalGroupsSequence[0]
    if "PixelValueTransformationSequence" in shared:
      source = shared.PixelValueTransformationSequence[0]
  if "RescaleIntercept" not in source:
    raise DicomReadError(path, "no RescaleIntercept, so stored values cannot be converted to "
                         "Hounsfield units; the file does not follow the CT Image IOD")
  slope = source.get("RescaleSlope", 1.0)
  return float(1.0 if slope in (None, "") else slope), float(source.RescaleIntercept)


def _text_or_none(value) -> str | None:
  text = str(value).strip() if value is not None else ""
  return text or None
