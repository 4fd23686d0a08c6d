"""Shared test fixtures (the real CT sample beside the checkout, pydicom's bundled files, one smoke
run for the session) and how the suite runs: XLA flags, simulated devices, slowest modules first.

JAX sees 4 CPU devices in the test process, so data-parallel code runs sharded in tests; it must
be configured before JAX initialises its backend, hence here at import time.
"""

import csv
import json
import os
import pathlib

# Tests compile hundreds of small programs and run each on a handful of images, so XLA's compile
# time is most of the suite: without LLVM's optimisation passes a CBAM autoencoder's training pass
# compiles in half the time and the smoke run takes 50 s instead of 79 s (2-core CPU). XLA's elemental
# fusion emitter in place of its MLIR fusion emitters halves compile time again and runs the steps as
# fast: the smoke run with nothing cached took 58 instead of 78 CPU seconds, tests/models' autoencoder
# and attention modules 55 instead of 110. Tests compare results computed under the same flags, never
# against figures of an optimised build. Set before JAX starts; processes the tests launch inherit it.
TEST_XLA_FLAGS = ("--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true "
                  "--xla_cpu_use_fusion_emitters=false")
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {TEST_XLA_FLAGS}".strip()

import jax  # noqa: E402  (after XLA_FLAGS)
import pytest  # noqa: E402

SIMULATED_DEVICES = 4
jax.config.update("jax_num_cpu_devices", SIMULATED_DEVICES)

TESTS = pathlib.Path(__file__).resolve().parent
# The modules that train for a minute or more, run first so that parallel workers (`make test`: 2,
# each taking whole files; --no-loadscope-reorder keeps this order instead of xdist's most-tests-first)
# finish together instead of one running a long module alone at the end. The first trains the
# shared smoke run, which the detector and export modules later read.
SLOW_MODULES = ("test_experiment.py", "train/test_resume.py", "train/test_distributed.py",
                "detect/test_every_detector.py", "train/test_pipeline.py", "test_file_formats_end_to_end.py",
                "compare/test_compare.py", "data/test_phantom_oracle.py")


def pytest_collection_modifyitems(items):
  """Puts the SLOW_MODULES first, in their order; every other test keeps its collected order."""
  def rank(item) -> int:
    module = item.path.relative_to(TESTS).as_posix()
    return SLOW_MODULES.index(module) if module in SLOW_MODULES else len(SLOW_MODULES)

  items.sort(key=rank)  # stable


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


@pytest.fixture
def write_ct(bundled_dicom):
  """Writes a CT file derived from pydicom's CT_small.dcm with a chosen patient and HU offset.

  Returns a function (path, patient_id, hu_offset=0, frames=1) -> path, so tests build small
  datasets of real, valid CT DICOM files without any data in the repository.
  """
  import numpy as np
  import pydicom

  template = bundled_dicom("CT_small.dcm")

  def write(path: pathlib.Path, patient_id: str | None, hu_offset: int = 0, frames: int = 1) -> pathlib.Path:
    ds = pydicom.dcmread(template)
    pixels = ds.pixel_array.astype(np.int16) + np.int16(hu_offset)
    if frames > 1:
      pixels = np.stack([pixels + np.int16(10 * k) for k in range(frames)])
      ds.NumberOfFrames = frames
    ds.PixelData = pixels.tobytes()
    if patient_id is None:
      del ds.PatientID
    else:
      ds.PatientID = patient_id
    ds.SOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=[str(path)])
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path)
    return path

  return write


def _session_directory(tmp_path_factory, worker_id: str) -> pathlib.Path:
  """The temporary directory every test process of the session sees: pytest-xdist gives each worker one of
  its own inside it."""
  return tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent


@pytest.fixture(scope="session")
def dataset_cache(tmp_path_factory, worker_id) -> pathlib.Path:
  """The cache directory of the whole session (phantom datasets, decoded slices, compiled programs).

  Exported as GANCBAM_CACHE, so configs with an empty data.cache_dir and launched commands use it
  instead of the user's ~/.cache. Every test process of a parallel run shares it, as concurrent runs
  share a user's cache: what one worker generated or compiled (the smoke config's programs, which
  several modules train), another reads back instead of making it again.
  """
  cache = _session_directory(tmp_path_factory, worker_id) / "gancbam-cache"
  previous = os.environ.get("GANCBAM_CACHE")
  os.environ["GANCBAM_CACHE"] = str(cache)
  yield cache
  if previous is None:
    del os.environ["GANCBAM_CACHE"]
  else:
    os.environ["GANCBAM_CACHE"] = previous


@pytest.fixture(scope="session")
def shared_smoke_run(dataset_cache, tmp_path_factory, worker_id):
  """Workdir and results of `configs/smoke.py` trained and evaluated once for the whole session.

  Every test process of a parallel run (pytest-xdist) shares it: the first to ask trains it under
  a file lock while the others wait, and they all read the finished directory. Tests only read it;
  one that would change it works on a copy (shutil.copytree), so no test sees another's changes.
  """
  import filelock

  from configs import smoke
  from gancbam_jax.experiment import run_experiment

  del dataset_cache
  workdir = _session_directory(tmp_path_factory, worker_id) / "shared-smoke-run"
  with filelock.FileLock(f"{workdir}.lock"):
    done = workdir / "results.json"
    # results.json is written last, so a directory with one is complete; reading it leaves it untouched.
    results = json.loads(done.read_text()) if done.is_file() else run_experiment(smoke.get_config(), workdir)
  return workdir, results


@pytest.fixture
def scored_slices():
  """A function workdir -> the rows of its scores.csv for each split ('val', 'test')."""
  def read(workdir: pathlib.Path) -> dict[str, list[dict]]:
    with (workdir / "scores.csv").open() as f:
      rows = list(csv.DictReader(f))
    return {name: [r for r in rows if r["split"] == name] for name in ("val", "test")}

  return read
