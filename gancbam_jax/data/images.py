"""Decode 2-D image files (PNG, JPEG, TIFF) into slices, through Pillow.

Images carry no Hounsfield units, so a stated rescale maps their stored values to the scale the
HU windows apply to: value = slope * stored + intercept (`data.image_rescale`). Without one they
are refused, because guessing would train on a scale nobody chose. Grayscale is read at its own
bit depth (8, 16 or 32 bits, or 32-bit float); colour images whose channels all agree are gray;
other colour images become gray by ITU-R 601-2 luma (L = 0.299 R + 0.587 G + 0.114 B, alpha
ignored), or are refused when conversion is off (`data.strict`). A multi-page TIFF gives one
slice per page.
"""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
from PIL import Image, ImageSequence

from gancbam_jax.data.decoded import CtSlices, SliceReadError, check_pixel_budget, check_plausible

LUMA_RULE = "ITU-R 601-2 luma, L = 0.299 R + 0.587 G + 0.114 B, alpha ignored"
# Pillow modes by the values they hold; every other mode is colour (RGB, RGBA, CMYK, YCbCr, LAB, HSV, ...).
_EIGHT_BIT_GRAY = ("1", "L", "LA", "La")
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
_PALETTE = ("P", "PA")
# What Pillow raises on a truncated, corrupt or unsupported image (PIL.UnidentifiedImageError is an OSError).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)
_TIFF_BITS_PER_SAMPLE, _TIFF_SAMPLE_FORMAT, _TIFF_SIGNED = 258, 339, 2


def _bit_depth(frame: Image.Image) -> str:
  """The stored values' depth of a grayscale frame, as CtSlices.values names it."""
  if frame.mode in _SIXTEEN_BIT:
    return "16-bit"
  if frame.mode == "F":
    return "32-bit float"
  if frame.mode == "I":
    # Pillow widens signed 16-bit TIFF to 32-bit "I"; the tags keep what the file stored.
    tags = getattr(frame, "tag_v2", {})
    bits, sample_format = tags.get(_TIFF_BITS_PER_SAMPLE), tags.get(_TIFF_SAMPLE_FORMAT)
    bits = bits[0] if isinstance(bits, tuple) else bits
    sample_format = sample_format[0] if isinstance(sample_format, tuple) else sample_format
    if bits == 16:
      return "16-bit signed" if sample_format == _TIFF_SIGNED else "16-bit"
    return "32-bit"
  return "8-bit"


def _gray_values(frame: Image.Image, path, kind: str, colour_to_gray: bool) -> tuple[np.ndarray, str, bool]:
  """(float64 values, bit depth, whether colour was converted) of one frame."""
  if frame.mode in _PALETTE:
    frame = frame.convert("RGBA" if frame.mode == "PA" else "RGB")
  if frame.mode in _EIGHT_BIT_GRAY:
    return np.asarray(frame.getchannel(0), dtype=np.float64), "8-bit", False
  if frame.mode in _SIXTEEN_BIT or frame.mode in ("I", "F"):
    return np.asarray(frame, dtype=np.float64), _bit_depth(frame), False
  rgb = np.asarray(frame.convert("RGB"))
  if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
    return rgb[..., 0].astype(np.float64), "8-bit", False  # gray saved as colour, common for screenshots
  if not colour_to_gray:
    raise SliceReadError(path, f"colour {kind} image (mode {frame.mode}); only grayscale is accepted in strict mode "
                         f"(data.strict=False converts colour by {LUMA_RULE})")
  return np.asarray(frame.convert("L"), dtype=np.float64), "8-bit", True


def _bytes_per_value(mode: str) -> int:
  return 1 if mode in _EIGHT_BIT_GRAY or mode in _PALETTE else 2 if mode in _SIXTEEN_BIT else 4


def read_image_slices(path: str | os.PathLike, *, kind: str, data: bytes | None = None,
                      rescale: tuple[float, float] | None = None, colour_to_gray: bool = True,
                      multiframe: str = "slices", max_pixel_bytes: int = 1 << 30) -> CtSlices:
  """Reads a PNG, JPEG or TIFF file as slices on the rescaled value scale.

  Args:
    path: the image file; named in every error.
    kind: its format, "PNG", "JPEG" or "TIFF", as the reader dispatch sniffed it.
    data: the file's bytes when the caller has already read them.
    rescale: (slope, intercept) from stored values to the windows' scale; None refuses the file.
    colour_to_gray: convert colour images by LUMA_RULE; False refuses them.
    multiframe: "slices" reads every page of a multi-page TIFF; "error" refuses such files.
    max_pixel_bytes: the largest pixel data a file may declare, checked before decoding.

  Raises:
    SliceReadError: no rescale, undecodable, colour in strict mode, too large, or values that are
      constant or not finite.
  """
  if rescale is None:
    raise SliceReadError(path, f"a {kind} image carries no Hounsfield units; set data.image_rescale=(slope, "
                         "intercept) to say how its stored values map to the HU windows' scale, e.g. (1, 0) with "
                         "data.hu_windows=((0, 255),) for 8-bit images, or (1, -1024) for 16-bit CT exports that "
                         "store HU + 1024")
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("error", Image.DecompressionBombWarning)  # past Pillow's size guard is ours to refuse
      image = Image.open(io.BytesIO(data) if data is not None else path)
      n_frames = getattr(image, "n_frames", 1)
      if n_frames > 1 and multiframe == "error":
        raise SliceReadError(path, f"multi-page {kind} ({n_frames} pages); set data.multiframe='slices' to use each "
                             "page as a slice")
      check_pixel_budget(path, (n_frames, image.height, image.width), _bytes_per_value(image.mode), max_pixel_bytes)
      frames = [_gray_values(frame, path, kind, colour_to_gray) for frame in ImageSequence.Iterator(image)]
  except SliceReadError:
    raise
  except (*_DECODE_ERRORS, Image.DecompressionBombWarning) as e:
    raise SliceReadError(path, f"unreadable {kind} image ({type(e).__name__}: {e}); the file is probably truncated "
                         "or corrupt") from e
  depths = sorted({depth for _, depth, _ in frames})
  if len(depths) > 1 or len({values.shape for values, _, _ in frames}) > 1:
    raise SliceReadError(path, f"the pages of this {kind} differ in bit depth or size ({', '.join(depths)}); save one "
                         "slice per file, or pages of one kind")
  slope, intercept = rescale
  values = np.stack([stored for stored, _, _ in frames]) * slope + intercept
  check_plausible(values, path)
  return CtSlices(hu=values.astype(np.float32), patient_id=None, sop_instance_uid=None, kind=kind, values=depths[0],
                  colour=any(converted for _, _, converted in frames))
