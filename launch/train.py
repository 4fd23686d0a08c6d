"""Train GAN-CBAM and evaluate its detector: autoencoder, BAGAN, augmentation, detector, results and report.

  python launch/train.py --config configs/default.py --workdir runs/default [--config.train.gan_steps=500]
  python launch/train.py --config configs/default.py --workdir runs/cv5 --config.eval.folds=5

Rerunning with the same --workdir resumes from the latest checkpoints. Each config's docstring
gives its command. The workdir then holds results.json and report.md (see docs/detection.md).
"""

import pathlib
import sys

from absl import app, flags
from ml_collections import config_flags

from gancbam_jax import cli, compile_cache
from gancbam_jax.experiment import headline, run_experiment
from gancbam_jax.train import parallel

_DEFAULT_CONFIG = pathlib.Path(__file__).resolve().parents[1] / "configs" / "default.py"
_CONFIG = config_flags.DEFINE_config_file("config", str(_DEFAULT_CONFIG), "Training config file (configs/*.py).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory: checkpoints, metrics, plots. Reused = resumed.",
                               required=True)


def main(argv):
  cli.begin(argv, "--config, --config.<field>=... and --workdir")
  try:
    results = run_experiment(_CONFIG.value, _WORKDIR.value)
  except cli.RUN_ERRORS as e:
    sys.exit(f"error: {e}")
  if not parallel.is_chief():
    return  # in a multi-process job the chief (process 0) reports for all
  workdir = pathlib.Path(_WORKDIR.value).expanduser().resolve()
  print(headline(results))
  print(f"run directory: {workdir} (report: {workdir / 'report.md'})")
  print(compile_cache.summary_line())


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
