"""Compare GAN-CBAM with the paper's baselines, classic detectors and its ablations on the same splits and seeds.

  python launch/compare.py --config configs/compare.py --workdir runs/compare
  python launch/compare.py --config configs/compare.py --workdir runs/compare --config.compare.methods=gan_cbam,gda

Writes comparison.json, comparison.md and plots/comparison_{metrics,roc}.png into --workdir; each
method's runs are ordinary run directories under it. Rerunning with the same --workdir resumes.
"""

import pathlib
import sys

from absl import app, flags
from ml_collections import config_flags

from gancbam_jax import cli, compile_cache
from gancbam_jax.compare import compare

# The same flags, error handling and closing lines as launch/train.py on purpose: a launcher declares
# its absl flags at module level, where --help finds them, and says in its own words what it wrote.
_DEFAULT_CONFIG = pathlib.Path(__file__).resolve().parents[1] / "configs" / "compare.py"
_CONFIG = config_flags.DEFINE_config_file("config", str(_DEFAULT_CONFIG), "Comparison config (configs/compare.py).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Comparison directory; reused = resumed.", required=True)


def main(argv):
  cli.begin(argv, "--config, --config.<field>=... and --workdir")
  try:
    comparison = compare(_CONFIG.value, _WORKDIR.value)
  except cli.RUN_ERRORS as e:
    sys.exit(f"error: {e}")
  workdir = pathlib.Path(_WORKDIR.value).expanduser().resolve()
  print(f"compared {len(comparison['methods'])} methods: {workdir / 'comparison.md'}")
  print(compile_cache.summary_line())


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
