"""Recompute results.json, the figures and report.md of a finished run from its checkpoints, without training.

  python launch/evaluate.py --workdir runs/default

Uses the run's own config.json (method, threshold rule, folds) and refuses a run whose stages are
not finished or whose data no longer splits as it did.
"""

import pathlib
import sys

from absl import app, flags

from gancbam_jax import cli
from gancbam_jax.experiment import evaluate_workdir, headline

_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory written by launch/train.py.", required=True)


def main(argv):
  cli.begin(argv, "--workdir")
  try:
    results = evaluate_workdir(_WORKDIR.value)
  except (*cli.RUN_ERRORS, FileNotFoundError) as e:
    sys.exit(f"error: {e}")
  print(headline(results))
  print(f"rewrote {pathlib.Path(_WORKDIR.value).expanduser().resolve() / 'report.md'}")


if __name__ == "__main__":
  app.run(main)
