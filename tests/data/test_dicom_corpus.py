"""Real DICOM of many vendors and codecs: pydicom's bundled test files and the pydicom-data package.

Every file either loads as CT slices with finite, varying HU or is refused with a DicomReadError;
the CT images among them keep loading as the reader is hardened against malformed files.
"""

import pathlib

import numpy as np
import pydicom.data
import pytest

from gancbam_jax.data.dicom import DicomReadError, read_ct_slices

data_store = pytest.importorskip("data_store", reason="the pydicom-data package (the test extra) is not installed")

# Archives and pydicom-data's own code are not DICOM files.
NOT_DICOM = {".py", ".pyc", ".txt", ".json", ".gz", ".bz2", ".zip"}
# The CT images of the corpus (single slices, a multi-frame enhanced CT, DICOMDIR test series, the
# JPEG 2000 and uncompressed versions of one slice); every other file is another modality, no image, or broken.
CT_IMAGES = {"17106", "17136", "17166", "17196", "2062", "2392", "2693", "3023", "3353", "6293", "6924",
             "693_J2KI.dcm", "693_J2KR.dcm", "693_UNCI.dcm", "693_UNCR.dcm", "CT_small.dcm",
             "J2K_pixelrep_mismatch.dcm", "bad_sequence.dcm", "eCT_Supplemental.dcm", "explicit_VR-UN.dcm"}


def _corpus() -> list[pathlib.Path]:
  roots = [pathlib.Path(pydicom.data.__file__).parent / "test_files", pathlib.Path(data_store.__file__).parent / "data"]
  return sorted(p for root in roots for p in root.rglob("*") if p.is_file() and p.suffix not in NOT_DICOM)


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns of the broken files the corpus holds on purpose
def test_every_corpus_file_loads_as_plausible_ct_or_is_refused_with_a_reason():
  files = _corpus()
  assert len(files) > 200
  loaded = set()
  for path in files:
    try:
      slices = read_ct_slices(path)
    except DicomReadError as error:
      assert str(path) in str(error) and error.reason
      continue
    assert np.isfinite(slices.hu).all() and all(np.ptp(frame) > 0 for frame in slices.hu), path
    loaded.add(path.name)
  assert loaded == CT_IMAGES
