"""Fuzzing the DICOM reader: 1,200 seeded mutants of valid CT files, every one loaded plausibly or refused by name."""

import pathlib
import time

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from dicom_mutants import mutants
from gancbam_jax.data import PreprocessSettings, load_ct_dataset
from gancbam_jax.data.dicom import DicomReadError, read_ct_slices

MUTANTS = 1200
# Valid CT files of three kinds: small uncompressed, tiny, and JPEG 2000 compressed.
BUNDLED_CT = ("CT_small.dcm", "17136", "693_J2KI.dcm")
SLOWEST_CASE_S = 10.0


@pytest.fixture(scope="module")
def originals() -> list[bytes]:
  found = {name: get_testdata_file(name) for name in BUNDLED_CT}
  missing = [name for name, path in found.items() if path is None]
  if missing:
    pytest.skip(f"pydicom does not bundle {missing} in this version")
  files = [pathlib.Path(path).read_bytes() for path in found.values()]
  sample = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data" / "siim-ct-sample" / "dicom_dir"
  files += [path.read_bytes() for path in sorted(sample.glob("*.dcm"))[:1]]  # a real slice, where present
  for data in files:
    read_ct_slices("original.dcm", data=data)  # each original loads
  return files


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns of the invalid values the mutants hold
def test_every_mutant_is_loaded_plausibly_or_refused_with_a_dicom_read_error(originals):
  outcomes, slowest = {"loaded": 0, "refused": 0}, 0.0
  for i, data in enumerate(mutants(originals, MUTANTS, seed=0)):
    name = f"mutant{i:04d}.dcm"
    began = time.perf_counter()
    try:
      slices = read_ct_slices(name, data=data)
    except DicomReadError as e:
      assert e.path == name and e.reason, e
      outcomes["refused"] += 1
    else:
      for frame in slices.hu:
        assert np.isfinite(frame).all() and frame.min() < frame.max(), name
      outcomes["loaded"] += 1
    slowest = max(slowest, time.perf_counter() - began)
  assert slowest < SLOWEST_CASE_S
  assert outcomes["loaded"] > 0 and outcomes["refused"] > 0  # both paths were exercised


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_dataset_of_mutants_loads_what_is_sound_and_lists_the_rest_with_reasons(originals, tmp_path):
  """A long run never dies on one bad file, and nothing implausible reaches the cache."""
  for i, data in enumerate(mutants(originals, 40, seed=1)):
    path = tmp_path / "data" / ("normal" if i % 2 else "anomalous") / f"m{i:02d}.dcm"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
  dataset = load_ct_dataset(tmp_path / "data", settings=PreprocessSettings(image_size=16), cache_dir=tmp_path / "cache",
                            num_workers=1, require_every_class=False, progress=False)
  report = dataset.report
  assert report.loaded + len(report.skipped) >= 40 and report.skipped and report.unexpected_errors == 0
  assert all(entry["reason"] for entry in report.skipped)
  for cached in (tmp_path / "cache").rglob("*.npz"):
    with np.load(cached) as entry:
      pixels = entry["pixels"]
    assert np.isfinite(pixels).all() and all(frame.min() < frame.max() for frame in pixels), cached
