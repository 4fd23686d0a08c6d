"""What every launch/ entry point shares: refusing stray arguments, logs kept to warnings, the errors it reports."""

import re
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


def parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing, with a bad --config.<field> override reported as one line (exit 2).

  For a misspelt field ml_collections raises a KeyError (wrapped in an AttributeError) that names
  only the missing key, as a traceback; this names the whole field and ml_collections' suggestion.
  Pass as app.run's flags_parser.
  """
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    message = str(e)
  except (KeyError, AttributeError) as e:
    missing = e.args[0] if isinstance(e, AttributeError) and e.args else e
    message = unknown_field_message(argv, missing.args[0] if isinstance(missing, KeyError) else "")
    if message is None:
      raise
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def unknown_field_message(argv: list[str], key_error: str) -> str | None:
  """`unknown config field a.b; did you mean a.c?` for the override in argv that a config's KeyError names.

  key_error is the KeyError's text: the missing key in quotes, then any `Did you mean "c"`.
  """
  missing = re.match(r"'(\w+)'", key_error)
  if missing is None:
    return None
  key = missing.group(1)
  suggestion = re.search(r'Did you mean "(\w+)"', key_error)
  for argument in argv[1:]:
    override = re.match(r"--\w+\.([\w.]+)", argument)
    path = override.group(1).split(".") if override else []
    if key in path:
      parent = path[:path.index(key)]
      message = f"unknown config field {'.'.join(parent + [key])}"
      if suggestion:
        message += f"; did you mean {'.'.join(parent + [suggestion.group(1)])}?"
      return message
  return None
