"""How the training benchmarks time a step: one warm-up step, then runs long enough to measure."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np


def steady_state_seconds(run: Callable[[int], float], min_seconds: float, repeats: int) -> tuple[float, float, int]:
  """(seconds of the warm-up step, median seconds per step, steps timed) of `run(count)`.

  `run(count)` takes `count` steps and returns their wall time, measured until the results are
  ready. After one warm-up step (compilation or allocator warm-up lands there), each of `repeats`
  runs takes enough steps to last about `min_seconds`; the median run's time per step is reported.
  """
  warm_up_s = run(1)
  count = max(1, math.ceil(min_seconds / max(warm_up_s, 1e-6)))
  per_step = [run(count) / count for _ in range(repeats)]
  return warm_up_s, float(np.median(per_step)), count * repeats
