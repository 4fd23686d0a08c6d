"""Shared test fixtures: the real CT sample beside the checkout and pydicom's bundled files."""

import pathlib

import pytest

SIIM_SAMPLE = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "siim-ct-sample"


@pytest.fixture(scope="session")
def siim_root() -> pathlib.Path:
  """The 12 real CT slices in the Kaggle layout; skips where ../shared/data is absent."""
  if not (SIIM_SAMPLE / "overview.csv").is_file():
    pytest.skip(f"real CT sample not found at {SIIM_SAMPLE} (it lives in ../shared/data beside the checkout)")
  return SIIM_SAMPLE


@pytest.fixture(scope="session")
def bundled_dicom():
  """Path of one of pydicom's bundled test files, by name; never downloads."""
  from pydicom.data import get_testdata_files

  def find(name: str) -> pathlib.Path:
    matches = [p for p in get_testdata_files() if pathlib.Path(p).name == name]
    if not matches:
      pytest.skip(f"pydicom does not bundle {name} in this version")
    return pathlib.Path(matches[0])

  return find
