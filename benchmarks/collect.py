"""Gathers benchmark JSON files into benchmarks/results/<device>.json and renders them as markdown tables.

  python benchmarks/collect.py --tag cpu-2core train_step=ts.json torch_peer=tp.json scaling=sc.json ...

Each NAME=FILE is one benchmark's --json output; it replaces that benchmark's entry in
results/<tag>.json (entries of other benchmarks already there are kept), and results/<tag>.md is
rewritten from the whole file. The tag names the machine, e.g. `cpu-2core` or `nvidia-h100`.
"""

from __future__ import annotations

import argparse
import json
import pathlib

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def _number(value, digits: int = 1) -> str:
  return "-" if value is None else f"{value:,.{digits}f}"


def _tera(value) -> float | None:
  return None if value is None else value / 1e12


def _percent(value) -> str:
  return "-" if value is None else f"{value:.1%}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
  return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def train_step_table(report: dict) -> list[str]:
  peak = "; ".join(f"{dtype}: {_number(_tera(p['flop_per_s']), 3)} TFLOP/s ({p['source']})"
                   for dtype, p in report["peak"].items())
  rows = [[r["step"], f"{r['image_size']}", f"{r['batch_size']}", r["dtype"], _number(r["images_per_s"]),
           _number(r["ms_per_step"]), _number(r["compile_s"], 2),
           _number(_tera(r["achieved_flop_per_s"]), 3), _percent(r["share_of_peak"])]
          for r in report["rows"]]
  return [f"Peak assumed: {peak}. FLOPs: {report['flops_source']}.", "",
          *_table(["step", "size", "batch", "dtype", "images/s", "ms/step", "compile s", "TFLOP/s", "of peak"], rows)]


def torch_peer_table(report: dict) -> list[str]:
  def torch_cells(row: dict, way: str) -> list[str]:
    figures = row.get(f"torch_{way}")
    if figures is None:
      return ["-", "-"]
    if "error" in figures:
      return ["failed", "-"]
    return [_number(figures["seconds_per_step"] * 1e3), f"{figures['speedup']:.2f}x"]

  rows = [[r["step"], f"{r['image_size']}", f"{r['batch_size']}", r["dtype"], _number(r["jax"]["seconds_per_step"] * 1e3),
           *torch_cells(r, "eager"), *torch_cells(r, "compiled")] for r in report["rows"]]
  worst = max(max(v.values()) for v in report["equivalence"].values())
  return [f"PyTorch {report['torch_version']} on {report['torch_device']} ({report['torch_threads']} threads). "
          f"Speedup = PyTorch time / JAX time (above 1: JAX faster). The peer's outputs match the Flax models' "
          f"within {worst:.1e} of their scale.", "",
          *_table(["step", "size", "batch", "dtype", "JAX ms", "eager ms", "speedup vs eager", "compiled ms",
                   "speedup vs compiled"], rows)]


def scaling_table(report: dict) -> list[str]:
  rows = [[r["step"], f"{r['devices']}", f"{r['global_batch']}", _number(r["images_per_s"]),
           _percent(r["scaling_efficiency"]), _number(r["throughput_vs_one_device"], 2),
           _percent(r.get("work_split"))] for r in report["rows"]]
  return [f"Per-device batch {report['per_device_batch']}, {report['image_size']}x{report['image_size']}, "
          f"{report['dtype']}; {report['note']}. Work split: XLA's FLOPs per device on 1 device / on k devices "
          "(1.0: nothing replicated).", "",
          *_table(["step", "devices", "global batch", "images/s", "efficiency", "vs 1 device", "work split"], rows)]


def inference_table(report: dict) -> list[str]:
  rows = []
  for way in ("in_process", "exported"):
    f = report[way]
    rows.append([way.replace("_", "-"), *(_number(f[f"latency_ms_p{q}_batch1"], 2) for q in (50, 95, 99)),
                 _number(f["images_per_s_batch64"], 0), _number(f["images_per_s_batch256"], 0)])
  return _table(["detector", "batch 1 p50 ms", "p95 ms", "p99 ms", "batch 64 images/s", "batch 256 images/s"], rows)


def compile_cache_table(report: dict) -> list[str]:
  rows = [[f"{r['run'] + 1}", _number(r["wall_s"]), _number(r["compile_seconds"]), _percent(r["compile_ratio"]),
           f"{r['hits']} of {r['requests']}"] for r in report["rows"]]
  return [f"`{report['config']}` trained and evaluated in fresh processes sharing one cache directory, empty before "
          "run 1. Compile s: XLA compiling, or reading the executable back from the cache.", "",
          *_table(["run", "wall s", "compile s", "of run 1's", "read from the cache"], rows)]


TABLES = {"train_step": train_step_table, "torch_peer": torch_peer_table, "scaling": scaling_table,
          "inference": inference_table, "compile_cache": compile_cache_table}


def provenance(report: dict) -> str:
  """Where and when a report was measured, from what it records: a benchmark without JAX has no version of it."""
  parts = [report.get("device") or report.get("processor"), report.get("date"),
           report.get("jax_version") and f"jax {report['jax_version']}"]
  return ", ".join(part for part in parts if part) + "."


def render(tag: str, results: dict) -> str:
  lines = [f"# Benchmark results: {tag}", "",
           "Generated by benchmarks/collect.py from the JSON beside this file; see benchmarks/README.md.", ""]
  for name, report in results.items():
    lines += [f"## {name}", "", provenance(report), ""]
    lines += TABLES[name](report) if name in TABLES else [f"Figures in `{tag}.json` under `{name}`."]
    lines.append("")
  return "\n".join(lines)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--tag", required=True, help="the machine, e.g. cpu-2core or nvidia-h100")
  parser.add_argument("reports", nargs="+", metavar="NAME=FILE", help="a benchmark's name and its --json output")
  args = parser.parse_args()
  path = RESULTS / f"{args.tag}.json"
  results = json.loads(path.read_text()) if path.exists() else {}
  for item in args.reports:
    name, sep, file = item.partition("=")
    if not sep or not name:
      parser.error(f"{item!r} is not NAME=FILE, e.g. train_step=train_step.json")
    try:
      results[name] = json.loads(pathlib.Path(file).read_text())
    except (OSError, json.JSONDecodeError) as error:
      parser.error(f"cannot read {name}'s results from {file}: {error}")
  RESULTS.mkdir(exist_ok=True)
  path.write_text(json.dumps(results, indent=2) + "\n")
  (RESULTS / f"{args.tag}.md").write_text(render(args.tag, results))
  print(f"wrote {path} and {path.with_suffix('.md')}")


if __name__ == "__main__":
  main()
