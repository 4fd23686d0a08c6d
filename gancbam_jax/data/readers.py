"""One entry point for every file format: sniff the content, call its reader, say what its values are.

Formats are told apart by their first bytes, never by the file's name: real DICOM files often have
no extension, and a misnamed file is still read for what it is. What no other format claims goes
to the DICOM reader, whose refusal then names the formats that are readable.
"""

from __future__ import annotations

import os
import pathlib
from typing import Mapping

from gancbam_jax.data.decoded import HOUNSFIELD, CtSlices
from gancbam_jax.data.dicom import read_ct_slices
from gancbam_jax.data.images import LUMA_RULE, read_image_slices
from gancbam_jax.data.nifti import GZIP_MAGIC, gzipped_head, nifti_magic, read_nifti_slices
from gancbam_jax.data.preprocess import PreprocessSettings

_DICOM_MAGIC_AT_128 = b"DICM"
_IMAGE_MAGIC = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"II*\x00": "TIFF", b"MM\x00*": "TIFF",
                b"II+\x00": "TIFF", b"MM\x00+": "TIFF"}  # the last two are BigTIFF


def sniff_format(data: bytes) -> str:
  """The format of a file's content: "DICOM", "PNG", "JPEG", "TIFF" or "NIfTI" (DICOM when none claims it)."""
  if data[128:132] == _DICOM_MAGIC_AT_128:
    return "DICOM"  # first: a DICOM preamble may legally hold a TIFF header (dual-personality files)
  for magic, kind in _IMAGE_MAGIC.items():
    if data.startswith(magic):
      return kind
  head = gzipped_head(data) if data[:2] == GZIP_MAGIC else data
  return "NIfTI" if nifti_magic(head) is not None else "DICOM"


def read_slices(path: str | os.PathLike, settings: PreprocessSettings, data: bytes | None = None) -> CtSlices:
  """Reads any supported file as slices, with the reader options `settings` decide.

  Raises:
    SliceReadError: the file's reader refuses it; the reason names the file and the fix.
  """
  data = pathlib.Path(path).read_bytes() if data is None else data
  kind = sniff_format(data)
  limits = {"multiframe": settings.multiframe, "max_pixel_bytes": int(settings.max_pixel_mib * 2**20)}
  if kind == "DICOM":
    return read_ct_slices(path, data=data, modalities=settings.modalities, **limits)
  if kind == "NIfTI":
    return read_nifti_slices(path, data=data, **limits)
  return read_image_slices(path, kind=kind, data=data, rescale=settings.image_rescale,
                           colour_to_gray=settings.colour_to_gray, **limits)


def input_name(kind: str, values: str, colour: bool = False) -> str:
  """How the load report names a kind of input, e.g. "DICOM (HU)" or "PNG (8-bit, colour converted)"."""
  return f"{kind} ({values}{', colour converted' if colour else ''})"


def describe_inputs(inputs: Mapping[str, int], settings: PreprocessSettings) -> str:
  """One sentence for reports: which kinds of file were read, and how their values became the windows' scale."""
  if not inputs:
    return "no file was read"
  kinds = "; ".join(f"{count} {name}" for name, count in sorted(inputs.items()))
  rules = []
  if any(f"({HOUNSFIELD}" in name for name in inputs):
    rules.append("DICOM and NIfTI in Hounsfield units from their own rescale (RescaleSlope/Intercept, scl_slope/inter)")
  if any(f"({HOUNSFIELD}" not in name for name in inputs):
    slope, intercept = settings.image_rescale or (float("nan"), float("nan"))
    rules.append(f"images as value = {slope:g} x stored + {intercept:g} (data.image_rescale)")
  if any("colour converted" in name for name in inputs):
    rules.append(f"colour images made gray by {LUMA_RULE}")
  windows = ", ".join(f"[{low:g}, {high:g}]" for low, high in settings.hu_windows)
  return f"{kinds}; {'; '.join(rules)}; then the windows {windows}"
