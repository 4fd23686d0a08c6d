"""Comparison with baselines and ablations (launch/compare.py) and robustness sweeps (launch/sweep.py).

  comparison = compare(config, workdir)  # comparison.json, comparison.md, plots/comparison_*.png
  results = sweep(config, workdir)       # sweep.json, sweep.md, plots/sweep_<factor>_<metric>.png
"""

from gancbam_jax.compare.comparison import compare
from gancbam_jax.methods import METHODS, Method
from gancbam_jax.compare.sweep import FACTORS, sweep

__all__ = ["FACTORS", "METHODS", "Method", "compare", "sweep"]
