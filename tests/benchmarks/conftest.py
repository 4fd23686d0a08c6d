"""The benchmark programs import their helper modules from benchmarks/, as they do when run as scripts."""

import pathlib
import sys

BENCHMARKS = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
