"""The persistent compilation cache: a run's compile time with an empty cache and with the one it filled.

  python benchmarks/compile_cache.py --json compile_cache.json [--config smoke] [--runs 2]

Trains and evaluates the config `--runs` times in fresh processes (nothing compiled in memory),
each in a new run directory, all with one new cache directory: the first run compiles everything
and writes it to the cache, the later ones read it back. Per run it reports the wall time, the
time its compilations took (XLA compiling, or reading the executable from the cache), and how
many of them the cache answered. Compile ratio = a run's compile time / the first run's.
"""

import argparse
import dataclasses
import importlib
import json
import pathlib
import subprocess
import sys
import tempfile
import time


def parse_args() -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--json", help="write the figures to this file as one JSON object")
  parser.add_argument("--config", default="smoke", help="a module of configs/")
  parser.add_argument("--runs", type=int, default=2)
  parser.add_argument("--one-run", nargs=2, metavar=("CACHE_DIR", "WORKDIR"), help=argparse.SUPPRESS)
  return parser.parse_args()


def one_run(config_name: str, cache_dir: str, workdir: str) -> None:
  """Trains and evaluates the config in this process; prints its compile counts as one JSON line."""
  from gancbam_jax import compile_cache
  from gancbam_jax.experiment import run_experiment

  config = importlib.import_module(f"configs.{config_name}").get_config()
  config.data.cache_dir = cache_dir
  run_experiment(config, workdir)
  print(json.dumps(dataclasses.asdict(compile_cache.compile_counts())))


def main() -> None:
  args = parse_args()
  if args.one_run:
    one_run(args.config, *args.one_run)
    return
  from devices import environment, write_report

  rows = []
  with tempfile.TemporaryDirectory() as scratch:
    cache_dir = pathlib.Path(scratch) / "cache"
    for run in range(args.runs):
      started = time.perf_counter()
      done = subprocess.run([sys.executable, __file__, "--config", args.config, "--one-run", str(cache_dir),
                             str(pathlib.Path(scratch) / f"run{run}")], capture_output=True, text=True)
      if done.returncode:
        sys.exit(f"run {run} failed:\n{done.stderr[-3000:]}")
      counts = json.loads(done.stdout.strip().splitlines()[-1])
      rows.append({"run": run, "wall_s": time.perf_counter() - started, **counts})
      print(f"run {run}: {rows[-1]['wall_s']:.1f} s, compiling {counts['compile_seconds']:.1f} s, "
            f"{counts['hits']} of {counts['requests']} compilations read from the cache", flush=True)
  for row in rows:
    row["compile_ratio"] = row["compile_seconds"] / rows[0]["compile_seconds"]
  write_report({"benchmark": "compile cache", **environment(), "config": f"configs/{args.config}.py", "rows": rows},
               args.json)


if __name__ == "__main__":
  main()
