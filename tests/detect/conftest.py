"""What the detection tests read of a run (the smoke run itself is `shared_smoke_run` in tests/conftest.py)."""

import csv

import pytest


def _scored_slices(workdir) -> dict[str, list[dict]]:
  with (workdir / "scores.csv").open() as f:
    rows = list(csv.DictReader(f))
  return {name: [r for r in rows if r["split"] == name] for name in ("val", "test")}


@pytest.fixture
def scored_slices():
  """A function workdir -> scores.csv's rows of each split ('val', 'test')."""
  return _scored_slices
