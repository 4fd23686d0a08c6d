"""Train GAN-CBAM: autoencoder pretraining, class Gaussians, BAGAN adversarial training, augmentation.

  python launch/train.py --config configs/default.py --workdir runs/default [--config.train.gan_steps=500]

Rerunning with the same --workdir resumes from the latest checkpoint. Each config's docstring
gives its command.
"""

import pathlib
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from gancbam_jax.data import DatasetLayoutError, SplitError
from gancbam_jax.train import ConfigError, NonFiniteLossError, train

_DEFAULT_CONFIG = pathlib.Path(__file__).resolve().parents[1] / "configs" / "default.py"
_CONFIG = config_flags.DEFINE_config_file("config", str(_DEFAULT_CONFIG), "Training config file (configs/*.py).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory: checkpoints, metrics, plots. Reused = resumed.",
                               required=True)


def main(argv):
  if len(argv) > 1:
    sys.exit(f"error: unexpected arguments {argv[1:]}; options are --config, --config.<field>=... and --workdir")
  if not flags.FLAGS["verbosity"].present:
    # Orbax logs every save step at INFO; stage summaries and the progress bar say what matters.
    logging.set_verbosity(logging.WARNING)
  try:
    summary = train(_CONFIG.value, _WORKDIR.value)
  except (ConfigError, DatasetLayoutError, SplitError, NonFiniteLossError) as e:
    sys.exit(f"error: {e}")
  del summary  # Its stages were announced as they finished; it is also in the workdir.
  print(f"run directory: {pathlib.Path(_WORKDIR.value).expanduser().resolve()}")


if __name__ == "__main__":
  app.run(main)
