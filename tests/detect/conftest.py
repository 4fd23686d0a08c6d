"""The smoke run that the detection tests read: trained once per test module."""

import csv

import pytest

from configs import smoke
from gancbam_jax.detect import run_experiment


@pytest.fixture(scope="module")
def smoke_run(dataset_cache, tmp_path_factory):
  """Workdir and results of the smoke config (classifier detector), single split."""
  del dataset_cache
  workdir = tmp_path_factory.mktemp("experiment")
  return workdir, run_experiment(smoke.get_config(), workdir)


def _scored_slices(workdir) -> dict[str, list[dict]]:
  with (workdir / "scores.csv").open() as f:
    rows = list(csv.DictReader(f))
  return {name: [r for r in rows if r["split"] == name] for name in ("val", "test")}


@pytest.fixture
def scored_slices():
  """A function workdir -> scores.csv's rows of each split ('val', 'test')."""
  return _scored_slices
