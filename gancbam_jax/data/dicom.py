"""Decode DICOM CT files into Hounsfield-unit slices.

One function, `read_ct_slices`, turns a file into float32 HU frames plus the few identifiers the
pipeline needs (patient and instance UIDs). Everything that can go wrong with a real file (not
DICOM, truncated, no pixel data, colour, wrong modality, undecodable compression) raises
`DicomReadError` with the file's path and what to do, so callers can skip it with that reason
or stop, as configured.
"""

from __future__ import annotations

import io
import math
import os
import struct
import zlib
from typing import Sequence

import numpy as np
import pydicom
from pydicom.errors import BytesLengthException, InvalidDicomError

from gancbam_jax.data.decoded import (AIR_HU, PADDING_BELOW_HU, CtSlices, SliceReadError, check_pixel_budget,
                                      check_plausible)

_PIXEL_DATA_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
# A 512 x 512 int16 slice is 0.5 MiB; 2,048 of them in one multi-frame file is 1 GiB.
DEFAULT_MAX_PIXEL_BYTES = 1 << 30
# Beyond these, a rescale is a corrupted value rather than a scanner's: CT writes slope 1 (sometimes
# 0.5 to 2) and an intercept of -1024 (sometimes 0 or -8192).
MAX_RESCALE_SLOPE = 100.0
MAX_RESCALE_INTERCEPT = 1e5
# What pydicom raises on malformed input, while parsing (dcmread) and while converting values lazily.
_PARSE_ERRORS = (OSError, EOFError, ValueError, KeyError, TypeError, IndexError, AttributeError, OverflowError,
                 NotImplementedError, struct.error, zlib.error, BytesLengthException, UnicodeError)
_VALUE_ERRORS = _PARSE_ERRORS + (MemoryError,)


class DicomReadError(SliceReadError):
  """A DICOM file that cannot be turned into CT slices; the message names the file and the fix."""


def read_ct_slices(
    path: str | os.PathLike,
    *,
    data: bytes | None = None,
    multiframe: str = "slices",
    modalities: Sequence[str] = ("CT",),
    max_pixel_bytes: int = DEFAULT_MAX_PIXEL_BYTES,
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
    max_pixel_bytes: the largest pixel data (Rows x Columns x frames x bytes per sample) a file
      may declare; checked before decoding, so a corrupted size cannot exhaust memory.

  Raises:
    DicomReadError: the file cannot be read, is not a single-channel image of an accepted
      modality, declares an attribute that cannot be used, or yields HU that are not finite or
      constant; the message says which attribute and why.
  """
  if multiframe not in ("slices", "error"):
    raise ValueError(f"multiframe must be 'slices' or 'error', got {multiframe!r}")
  header = _Header(_read_dataset(path, data), path)
  header.check_is_ct_image(modalities)
  n_frames = header.integer("NumberOfFrames", default=1, minimum=1)
  if n_frames > 1 and multiframe == "error":
    raise DicomReadError(path, f"multi-frame file ({n_frames} frames); set data.multiframe='slices' "
                         "to use each frame as a slice")
  header.check_size(n_frames, max_pixel_bytes)
  try:
    stored = np.asarray(header.ds.pixel_array)
  except Exception as e:  # pydicom raises many types; each means the same thing here.
    raise DicomReadError(path, f"pixel data could not be decoded ({type(e).__name__}: {e}); the file "
                         "may be truncated, or its compression needs pylibjpeg plugins") from e
  if n_frames == 1:
    stored = stored[np.newaxis]
  if stored.ndim != 3:
    raise DicomReadError(path, f"unexpected pixel array shape {stored.shape} for {n_frames} frame(s)")
  hu = hounsfield_units(stored, header.ds, path)
  check_plausible(hu, path, error=DicomReadError)
  return CtSlices(hu=hu, patient_id=header.text("PatientID"), sop_instance_uid=header.text("SOPInstanceUID"))


def hounsfield_units(stored: np.ndarray, ds: pydicom.Dataset, path: str | os.PathLike = "<dataset>") -> np.ndarray:
  """Maps stored pixel values (frames, rows, cols) to float32 HU with padding set to air.

  HU = stored * RescaleSlope + RescaleIntercept. MONOCHROME1 images (where a high value is
  dark) are inverted within the stored range first, so high HU is always dense.
  """
  header = _Header(ds, path)
  padding = header.padding_mask(stored)
  values = stored.astype(np.float64)
  if header.text("PhotometricInterpretation") == "MONOCHROME1":
    lowest, highest = header.stored_range()
    values = (lowest + highest) - values
  slope, intercept = header.rescale()
  hu = values * slope + intercept
  hu[padding | (hu < PADDING_BELOW_HU)] = AIR_HU
  return hu.astype(np.float32)


def _read_dataset(path: str | os.PathLike, data: bytes | None) -> pydicom.Dataset:
  try:
    return pydicom.dcmread(path if data is None else io.BytesIO(data))
  except InvalidDicomError as e:
    raise DicomReadError(path, "not a DICOM Part 10 file (no 'DICM' preamble or file meta information), nor "
                         "any other readable format (PNG, JPEG, TIFF, NIfTI); remove it from the dataset or "
                         "re-export it from the PACS") from e
  except MemoryError as e:
    raise DicomReadError(path, "an element declares a length far beyond the file's; the file is corrupt") from e
  except _PARSE_ERRORS as e:
    raise DicomReadError(path, f"unreadable DICOM ({type(e).__name__}: {e}); the file is probably "
                         "truncated or corrupt") from e


class _Header:
  """Typed, checked reads of a dataset's attributes; each failure a DicomReadError naming the attribute.

  pydicom converts values only when they are read, so a malformed value surfaces here, not in dcmread.
  """

  def __init__(self, ds: pydicom.Dataset, path):
    self.ds, self.path = ds, path

  def refuse(self, keyword: str, problem: str) -> DicomReadError:
    return DicomReadError(self.path, f"attribute {keyword} {problem}; the file does not follow the CT Image IOD, "
                          "re-export it or remove it from the dataset")

  def value(self, keyword: str, source: pydicom.Dataset | None = None):
    """The attribute's value, or None when it is absent or empty."""
    source = self.ds if source is None else source
    try:
      value = source.get(keyword)
    except _VALUE_ERRORS as e:
      raise self.refuse(keyword, f"cannot be read ({type(e).__name__}: {e})") from e
    if isinstance(value, pydicom.DataElement):
      value = value.value
    return None if value is None or value == "" else value

  def text(self, keyword: str) -> str | None:
    value = self.value(keyword)
    text = str(value).strip() if value is not None else ""
    return text or None

  def _single(self, keyword: str, value):
    if isinstance(value, (pydicom.multival.MultiValue, list, tuple)):
      if len(value) != 1:
        raise self.refuse(keyword, f"holds {len(value)} values ({value}), where one is expected")
      value = value[0]
    return value

  def real(self, keyword: str, default: float | None = None, source: pydicom.Dataset | None = None) -> float:
    """A finite number; `default` where absent (None: absence is refused)."""
    value = self.value(keyword, source)
    if value is None:
      if default is None:
        raise self.refuse(keyword, "is missing")
      return default
    try:
      number = float(self._single(keyword, value))
    except (TypeError, ValueError, OverflowError) as e:
      raise self.refuse(keyword, f"is not a number ({value!r})") from e
    if not math.isfinite(number):
      raise self.refuse(keyword, f"is {number}, not a finite number")
    return number

  def integer(self, keyword: str, default: int, minimum: int | None = None) -> int:
    number = self.real(keyword, float(default))
    if number != int(number) or (minimum is not None and number < minimum):
      raise self.refuse(keyword, f"is {number:g}, not a whole number" + (f" of at least {minimum}" if minimum else ""))
    return int(number)

  def check_is_ct_image(self, modalities: Sequence[str]) -> None:
    try:
      has_pixels = any(keyword in self.ds for keyword in _PIXEL_DATA_KEYWORDS)
    except _VALUE_ERRORS as e:
      raise DicomReadError(self.path, f"the dataset cannot be searched for pixel data ({type(e).__name__}: {e}); "
                           "the file is corrupt") from e
    if not has_pixels:
      sop_class = self.value("SOPClassUID")
      raise DicomReadError(self.path, f"no pixel data (SOP class {getattr(sop_class, 'name', sop_class) or 'unknown'});"
                           " it is not an image")
    modality = self.text("Modality")
    if modality not in modalities:
      raise DicomReadError(self.path, f"Modality is {modality!r}, not one of {list(modalities)}; Hounsfield "
                           "units are defined for CT only (data.modalities widens this)")
    samples = self.integer("SamplesPerPixel", default=1)
    photometric = self.text("PhotometricInterpretation") or "MONOCHROME2"
    if samples != 1 or photometric not in ("MONOCHROME1", "MONOCHROME2"):
      raise DicomReadError(self.path, f"colour image (PhotometricInterpretation {photometric}, "
                           f"{samples} samples per pixel); only single-channel CT is supported")

  def check_size(self, n_frames: int, max_pixel_bytes: int) -> None:
    """Refuses impossible dimensions, and pixel data larger than `max_pixel_bytes`, before decoding."""
    rows, columns = self.integer("Rows", default=0), self.integer("Columns", default=0)
    bits = self.integer("BitsAllocated", default=16)
    for keyword, value in (("Rows", rows), ("Columns", columns), ("BitsAllocated", bits)):
      if value < 1:
        raise self.refuse(keyword, f"is {value}; an image needs at least one")
    check_pixel_budget(self.path, (n_frames, rows, columns), math.ceil(bits / 8), max_pixel_bytes,
                       error=DicomReadError)

  def stored_range(self) -> tuple[int, int]:
    bits = self.integer("BitsStored", default=self.integer("BitsAllocated", default=16), minimum=1)
    if self.integer("PixelRepresentation", default=0) == 1:
      return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1

  def _as_stored_value(self, keyword: str) -> int:
    """A padding value read the way the pixels are stored.

    Files often write PixelPaddingValue as unsigned (63536) for signed pixels (-2000).
    """
    value = self.integer(keyword, default=0)
    bits = self.integer("BitsAllocated", default=16)
    if self.integer("PixelRepresentation", default=0) == 1 and value >= 1 << (bits - 1):
      value -= 1 << bits
    return value

  def padding_mask(self, stored: np.ndarray) -> np.ndarray:
    if self.value("PixelPaddingValue") is None:
      return np.zeros(stored.shape, dtype=bool)
    pad = self._as_stored_value("PixelPaddingValue")
    if self.value("PixelPaddingRangeLimit") is not None:
      limit = self._as_stored_value("PixelPaddingRangeLimit")
      return (stored >= min(pad, limit)) & (stored <= max(pad, limit))
    return stored == pad

  def _first_item(self, source: pydicom.Dataset, keyword: str) -> pydicom.Dataset:
    items = self.value(keyword, source)
    if not items:
      raise self.refuse(keyword, "is an empty sequence")
    return items[0]

  def rescale(self) -> tuple[float, float]:
    """RescaleSlope/Intercept from the top level or, in enhanced CT, the shared functional groups."""
    source = self.ds
    if self.value("RescaleIntercept") is None and self.value("SharedFunctionalGroupsSequence") is not None:
      shared = self._first_item(self.ds, "SharedFunctionalGroupsSequence")
      if self.value("PixelValueTransformationSequence", shared) is not None:
        source = self._first_item(shared, "PixelValueTransformationSequence")
    if self.value("RescaleIntercept", source) is None:
      raise DicomReadError(self.path, "no RescaleIntercept, so stored values cannot be converted to "
                           "Hounsfield units; the file does not follow the CT Image IOD")
    slope, intercept = self.real("RescaleSlope", 1.0, source), self.real("RescaleIntercept", source=source)
    if not 0 < slope <= MAX_RESCALE_SLOPE:
      raise self.refuse("RescaleSlope", f"is {slope:g}; CT stores HU with a positive slope of at most "
                        f"{MAX_RESCALE_SLOPE:g} (usually 1)")
    if abs(intercept) > MAX_RESCALE_INTERCEPT:
      raise self.refuse("RescaleIntercept", f"is {intercept:g}; CT intercepts lie within ±{MAX_RESCALE_INTERCEPT:g} "
                        "(usually -1024)")
    return slope, intercept
