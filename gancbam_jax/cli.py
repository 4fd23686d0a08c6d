"""What every launch/ entry point does before its one call: refuse stray arguments, keep logs to warnings."""

import sys

from absl import flags, logging


def begin(argv: list[str], options: str) -> None:
  """Exits naming the `options` when positional arguments were given; logs WARNING and above unless --verbosity is set.

  Orbax and the XLA backend log routine steps at INFO; progress bars and summaries say what matters.
  """
  if len(argv) > 1:
    sys.exit(f"error: unexpected arguments {argv[1:]}; the options are {options}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
