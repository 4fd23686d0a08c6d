"""Recompute results.json, the figures and report.md of a finished run from its checkpoints, without training.

  python launch/evaluate.py --workdir runs/default [--distributed]

Uses the run's own config.json (method, threshold rule, folds) and refuses a run whose stages are
not finished or whose data no longer splits as it did.
"""

import pathlib
import sys

from absl import app, flags

from gancbam_jax import cli
from gancbam_jax.experiment import evaluate_workdir, headline
from gancbam_jax.train import parallel

_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory written by launch/train.py.", required=True)
_DISTRIBUTED = flags.DEFINE_bool("distributed", False, "Join a multi-process job (as config.distributed does for "
                                 "training); by default one process evaluates, whatever the training was.")


def main(argv):
  cli.begin(argv, "--workdir and --distributed")
  try:
    results = evaluate_workdir(_WORKDIR.value, _DISTRIBUTED.value)
  except (*cli.RUN_ERRORS, FileNotFoundError) as e:
    sys.exit(f"error: {e}")
  if not parallel.is_chief():
    return  # in a multi-process job the chief (process 0) reports for all
  print(headline(results))
  print(f"rewrote {pathlib.Path(_WORKDIR.value).expanduser().resolve() / 'report.md'}")


if __name__ == "__main__":
  app.run(main)
