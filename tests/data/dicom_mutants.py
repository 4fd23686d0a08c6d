"""Seeded malformed variants of valid CT DICOM files, for the reader's fuzz test.

Two kinds of damage, as real files suffer them:
- bytes: flips, truncation, garbage inserted or overwritten (a bad copy, a broken transfer);
- values: header attributes written with wrong values through pydicom (a buggy exporter):
  non-numbers, several values where one is expected, zero, NaN, infinities, huge numbers, empty
  sequences, padding ranges that cover everything, impossible sizes.
"""

from __future__ import annotations

import io

import numpy as np
import pydicom

BAD_NUMBERS = ("abc", "1\\2", "", "0", "-1", "nan", "inf", "-inf", "1e39", "-1e39", "3.5e300")
VALUE_TARGETS = {
    "RescaleSlope": "DS", "RescaleIntercept": "DS", "NumberOfFrames": "IS", "Rows": None, "Columns": None,
    "BitsAllocated": None, "BitsStored": None, "PixelRepresentation": None, "PixelPaddingValue": None,
    "PixelPaddingRangeLimit": None, "SamplesPerPixel": None, "PhotometricInterpretation": None, "Modality": None,
    "SOPClassUID": None,
}
US_VALUES = (0, 1, 7, 65535, 40000)


def _byte_mutant(data: bytes, rng: np.random.Generator) -> bytes:
  buffer = bytearray(data)
  kind = rng.integers(4)
  if kind == 0:  # flip bytes, anywhere (header or pixels)
    for position in rng.integers(0, len(buffer), rng.integers(1, 12)):
      buffer[position] ^= int(rng.integers(1, 256))
  elif kind == 1:  # truncate
    del buffer[int(rng.integers(0, len(buffer))):]
  elif kind == 2:  # insert garbage
    position = int(rng.integers(0, len(buffer)))
    buffer[position:position] = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
  else:  # overwrite a run of bytes, most often in the header where lengths and VRs live
    end = min(len(buffer), 1024) if rng.random() < 0.7 else len(buffer)
    position = int(rng.integers(0, end))
    run = rng.integers(0, 256, int(rng.integers(1, 16)), dtype=np.uint8).tobytes()
    buffer[position:position + len(run)] = run
  return bytes(buffer)


def _set_raw(ds: pydicom.Dataset, keyword: str, vr: str, text: str) -> None:
  raw = text.encode("latin-1")
  raw += b" " * (len(raw) % 2)  # DICOM values have even length
  tag = pydicom.datadict.tag_for_keyword(keyword)
  ds._dict[pydicom.tag.Tag(tag)] = pydicom.dataelem.RawDataElement(pydicom.tag.Tag(tag), vr, len(raw), raw, 0,
                                                                    ds.is_implicit_VR, ds.is_little_endian)


def _value_mutant(data: bytes, rng: np.random.Generator) -> bytes:
  ds = pydicom.dcmread(io.BytesIO(data))
  keyword = list(VALUE_TARGETS)[rng.integers(len(VALUE_TARGETS))]
  choice = rng.random()
  if keyword in ("Rows", "Columns", "BitsAllocated", "BitsStored", "PixelRepresentation", "SamplesPerPixel",
                 "PixelPaddingValue", "PixelPaddingRangeLimit"):
    value = int(US_VALUES[rng.integers(len(US_VALUES))])
    if keyword.startswith("PixelPadding") and choice < 0.5:  # a range that covers the whole stored range
      ds["PixelPaddingValue"] = pydicom.DataElement("PixelPaddingValue", "US", 0)
      keyword, value = "PixelPaddingRangeLimit", 65535
    if choice > 0.8 and keyword in ds:
      del ds[keyword]
    else:
      ds[keyword] = pydicom.DataElement(keyword, "US", value)
  elif keyword in ("PhotometricInterpretation", "Modality", "SOPClassUID"):
    if choice < 0.4 and keyword in ds:
      del ds[keyword]
    else:
      setattr(ds, keyword, ["", "RGB", "MR", "1.2.3.4", "\x00\x01"][rng.integers(5)])
  else:
    text = BAD_NUMBERS[rng.integers(len(BAD_NUMBERS))]
    if choice < 0.15 and keyword in ds:
      del ds[keyword]
    else:  # written as raw bytes, as a broken exporter would, bypassing pydicom's conversion
      _set_raw(ds, keyword, VALUE_TARGETS[keyword], text)
  if rng.random() < 0.1:  # enhanced-CT style rescale holders, empty
    ds.SharedFunctionalGroupsSequence = pydicom.Sequence([])
    if "RescaleIntercept" in ds:
      del ds.RescaleIntercept
  out = io.BytesIO()
  with pydicom.config.disable_value_validation():
    ds.save_as(out, enforce_file_format=False)
  return out.getvalue()


def mutants(originals: list[bytes], count: int, seed: int) -> list[bytes]:
  """`count` damaged variants of the given files, half byte-level and half value-level, reproducible by seed."""
  rng = np.random.default_rng(seed)
  result = []
  for i in range(count):
    data = originals[i % len(originals)]
    result.append(_byte_mutant(data, rng) if i % 2 == 0 else _value_mutant(data, rng))
  return result
