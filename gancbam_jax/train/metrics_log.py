"""Training metrics to `metrics.jsonl` (one JSON object per logged step) and TensorBoard event files.

Only the chief process writes (multi-host jobs log once). A resumed stage first drops the lines
its killed predecessor logged after the checkpoint it resumes from, so every (stage, step)
appears once in `metrics.jsonl`.
"""

from __future__ import annotations

import json
import pathlib
import time
from typing import Mapping

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"


class MetricsLog:
  """Appends metrics of (stage, step) to the workdir's metrics.jsonl and TensorBoard events."""

  def __init__(self, workdir: pathlib.Path, enabled: bool = True):
    self.path = workdir / METRICS_FILE
    self.enabled = enabled
    self._writer = None
    if enabled:
      from tensorboardX import SummaryWriter  # Writes event files without TensorFlow.

      self._writer = SummaryWriter(str(workdir / TENSORBOARD_DIR))

  def forget_after(self, stage: str, step: int) -> None:
    """Drops logged lines of `stage` with a step beyond `step` (work lost to an interruption)."""
    if not self.enabled or not self.path.exists():
      return
    lines = self.path.read_text().splitlines()
    kept = [line for line in lines if not _is_stale(line, stage, step)]
    if len(kept) != len(lines):
      self.path.write_text("".join(line + "\n" for line in kept))

  def write(self, stage: str, step: int, metrics: Mapping[str, float]) -> None:
    if not self.enabled:
      return
    record = {"stage": stage, "step": int(step), "time": round(time.time(), 3),
              **{k: float(v) for k, v in metrics.items()}}
    with self.path.open("a") as f:
      f.write(json.dumps(record) + "\n")
    for name, value in metrics.items():
      self._writer.add_scalar(f"{stage}/{name}", float(value), int(step))

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()


def _is_stale(line: str, stage: str, step: int) -> bool:
  try:
    record = json.loads(line)
  except json.JSONDecodeError:
    return True  # A line cut short by a kill mid-write.
  return record.get("stage") == stage and record.get("step", 0) > step


def read_metrics(workdir: str | pathlib.Path, stage: str | None = None) -> list[dict]:
  """The records of metrics.jsonl, optionally of one stage only; none for a run that trained no stage."""
  path = pathlib.Path(workdir) / METRICS_FILE
  if not path.exists():
    return []
  records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
  return [r for r in records if stage is None or r["stage"] == stage]
