"""Robustness sweeps: F1 and ROC-AUC of chosen methods against noise, imbalance, lesion diameter and contrast.

  python launch/sweep.py --config configs/sweep.py --workdir runs/sweep
  python launch/sweep.py --config configs/sweep.py --workdir runs/sweep --config.sweep.factors=imbalance

Writes sweep.json, sweep.md and plots/sweep_<factor>_<metric>.png into --workdir. Rerunning with
the same --workdir resumes.
"""

import pathlib
import sys

from absl import app, flags
from ml_collections import config_flags

from gancbam_jax import cli, compile_cache
from gancbam_jax.compare import sweep

# The same flags, error handling and closing lines as launch/train.py on purpose: a launcher declares
# its absl flags at module level, where --help finds them, and says in its own words what it wrote.
_DEFAULT_CONFIG = pathlib.Path(__file__).resolve().parents[1] / "configs" / "sweep.py"
_CONFIG = config_flags.DEFINE_config_file("config", str(_DEFAULT_CONFIG), "Sweep config (configs/sweep.py).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Sweep directory; reused = resumed.", required=True)


def main(argv):
  cli.begin(argv, "--config, --config.<field>=... and --workdir")
  try:
    results = sweep(_CONFIG.value, _WORKDIR.value)
  except cli.RUN_ERRORS as e:
    sys.exit(f"error: {e}")
  workdir = pathlib.Path(_WORKDIR.value).expanduser().resolve()
  print(f"swept {', '.join(results['factors'])}: {workdir / 'sweep.md'}")
  print(compile_cache.summary_line())


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
