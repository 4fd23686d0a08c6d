"""What every reader returns (`CtSlices`) and raises (`SliceReadError`), and the checks they share.

A reader turns one file (DICOM, PNG/JPEG/TIFF image or NIfTI volume) into float32 frames on the
scale the HU windows apply to: Hounsfield units for DICOM and NIfTI, and for 2-D images their
stored values through the configured rescale. Every way a file can be unusable raises
`SliceReadError` with the file's path and what to do, so callers skip it with that reason or stop.
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np

# Water is 0 HU and air -1000 HU by definition of the scale.
AIR_HU = -1000.0
# Scanners store the region outside the reconstruction circle as a sentinel far below air
# (-2000, -2048 and -3024 HU in the SIIM sample); no tissue, and no air with noise, lies there.
PADDING_BELOW_HU = -1500.0
# The value scale of DICOM and NIfTI frames; 2-D images name their stored bit depth instead.
HOUNSFIELD = "HU"


class SliceReadError(ValueError):
  """A file that cannot be turned into CT slices; the message names the file and the fix."""

  def __init__(self, path: str | os.PathLike, reason: str):
    super().__init__(f"{os.fspath(path)}: {reason}")
    self.path = os.fspath(path)
    self.reason = reason


@dataclasses.dataclass(frozen=True)
class CtSlices:
  """The decoded frames of one file.

  Attributes:
    hu: float32 array (frames, rows, columns): HU with padding mapped to air for DICOM and NIfTI,
      the rescaled stored values for 2-D images.
    patient_id: DICOM PatientID, or None where the file has none (every non-DICOM file).
    sop_instance_uid: DICOM SOPInstanceUID, or None.
    kind: the file format: "DICOM", "NIfTI", "PNG", "JPEG" or "TIFF".
    values: what the stored values are: "HU", or a 2-D image's bit depth ("8-bit", "16-bit",
      "16-bit signed", "32-bit", "32-bit float"). A model trained on one value scale cannot score
      another, so exports record it and detection checks it.
    colour: a colour image was converted to gray.
  """

  hu: np.ndarray
  patient_id: str | None
  sop_instance_uid: str | None
  kind: str = "DICOM"
  values: str = HOUNSFIELD
  colour: bool = False


def air_below_padding(hu: np.ndarray) -> np.ndarray:
  """Sets values below PADDING_BELOW_HU (outside the reconstruction circle) to air, in place; returns `hu`."""
  hu[hu < PADDING_BELOW_HU] = AIR_HU
  return hu


def check_plausible(frames: np.ndarray, path, each_frame: bool = True,
                    error: type[SliceReadError] = SliceReadError) -> None:
  """Refuses frames whose values are not all finite, or all equal: no image a model could learn from.

  Args:
    frames: (frames, rows, columns).
    path: the file, named in the error.
    each_frame: refuse a file with any constant frame (separate images); False refuses only a
      constant whole (a volume, whose first and last slices may well be all air).
    error: what to raise, SliceReadError or the reader's own subclass.
  """
  if not np.all(np.isfinite(frames)):
    bad = int(np.flatnonzero(~np.isfinite(frames).reshape(len(frames), -1).all(axis=1))[0])
    where = f" in frame {bad + 1} of {len(frames)}" if len(frames) > 1 else ""
    raise error(path, f"the values are not all finite{where} (a rescale overflows, or the file stores "
                "NaN); re-export the file")
  for frame, values in enumerate(frames if each_frame else [frames]):
    if values.min() == values.max():
      where = f" in frame {frame + 1} of {len(frames)}" if each_frame and len(frames) > 1 else ""
      raise error(path, f"every pixel is {values.min():g}{where}: a constant image (blank, or a padding "
                  "range that covers every stored value); nothing to learn from")


def check_pixel_budget(path, shape: tuple[int, ...], bytes_per_value: int, max_pixel_bytes: int,
                       error: type[SliceReadError] = SliceReadError) -> None:
  """Refuses a file whose declared pixel data exceeds `max_pixel_bytes`, before it is decoded."""
  declared = math.prod(shape) * bytes_per_value  # Python ints: a corrupted size cannot overflow
  if declared > max_pixel_bytes:
    raise error(path, f"declares {declared / 2**20:.0f} MiB of pixel data (shape {tuple(shape)}, "
                f"{8 * bytes_per_value} bits), above the limit of {max_pixel_bytes / 2**20:.0f} MiB "
                "(data.max_pixel_mib raises it); a corrupted size or a file that is not one CT series")
