"""What every launch/ entry point shares: refusing stray arguments, logs kept to warnings, the errors it reports."""

import sys

from absl import flags, logging

from gancbam_jax.data import DatasetLayoutError, SplitError
from gancbam_jax.train import CheckpointMismatchError, ConfigError, IncompleteRunError, NonFiniteLossError

# What a run can stop with that is the user's to fix (data, config, a workdir left by another
# config or cut short): launchers print it as one line, `error: ...`, never as a traceback.
RUN_ERRORS = (ConfigError, DatasetLayoutError, SplitError, NonFiniteLossError, IncompleteRunError,
              CheckpointMismatchError)


def begin(argv: list[str], options: str) -> None:
  """Exits naming the `options` when positional arguments were given; logs WARNING and above unless --verbosity is set.

  Orbax and the XLA backend log routine steps at INFO; progress bars and summaries say what matters.
  """
  if len(argv) > 1:
    sys.exit(f"error: unexpected arguments {argv[1:]}; the options are {options}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
