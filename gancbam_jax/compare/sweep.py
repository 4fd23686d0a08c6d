"""`python launch/sweep.py`: how the methods hold up as one property of the built-in data changes.

  results = sweep(config, workdir)

The paper claims resilience to noise, class imbalance and minute abnormalities; these sweeps are
where that claim is measured, whichever way it comes out. For each factor of config.sweep.factors
and each of its values, every method of config.sweep.methods trains and evaluates on the synthetic
dataset generated with that value (or, for the imbalance ratio u, on the same data thinned
differently) in `<workdir>/<factor>/<value>/<method>/seed<s>/`, resuming if interrupted. Writes
sweep.json, sweep.md and plots/sweep_<factor>_<metric>.png (F1 and ROC-AUC against the factor,
one line per method, shaded by the std over folds and seeds).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import ml_collections

from gancbam_jax.compare.comparison import protocol, run_method, split_config
from gancbam_jax.methods import METHODS, distinct_values, parse_names, with_fields
from gancbam_jax.detect import figures
from gancbam_jax.detect.report import markdown_table, percent

PLOTTED_METRICS = ("f1", "roc_auc")


@dataclasses.dataclass(frozen=True)
class Factor:
  """A property of the data a sweep varies: what it is called and the config field that sets it."""

  label: str
  field: str


FACTORS = {
    "noise": Factor("scanner noise (HU, standard deviation)", "data.phantom.noise_hu"),
    "imbalance": Factor("training imbalance u (anomalous training slices per normal one)", "data.split.imbalance_u"),
    "lesion_diameter": Factor("lesion diameter (mm)", "data.phantom.lesion_diameter_mm"),
    "contrast": Factor("lesion contrast (times the preset's)", "data.phantom.contrast_scale"),
}


def sweep_factor(base: ml_collections.ConfigDict, name: str, values: list[float], methods: list[str],
                 seeds: list[int], workdir: pathlib.Path) -> dict:
  """Every method at every value of one factor; returns metric means and stds per method over the values."""
  factor = FACTORS[name]
  rows = {method: [] for method in methods}
  for value in values:
    config = with_fields(base, {factor.field: value})
    autoencoders = {}  # the methods at one value share data, so they may share an autoencoder
    for method in methods:
      print(f"sweep: {name} = {value:g}, {method}", flush=True)
      rows[method].append(run_method(config, METHODS[method], seeds, workdir / name / f"{value:g}", autoencoders))
  return {"label": factor.label, "field": factor.field, "values": values,
          "methods": {method: {metric: {"mean": [r["mean"][metric] for r in per_value],
                                        "std": [r["std"][metric] for r in per_value]}
                               for metric in PLOTTED_METRICS}
                      for method, per_value in rows.items()}}


def sweep_markdown(results: dict) -> str:
  """sweep.md: per factor, F1 and ROC-AUC (percent, mean ± std) of each method at each value."""
  lines = ["# Robustness sweeps", "", f"Protocol: {results['protocol']}. Values in percent, mean ± std.", ""]
  for name, factor in results["factors"].items():
    lines += [f"## {factor['label']} (`{factor['field']}`)", ""]
    header = ["method", "metric", *(f"{v:g}" for v in factor["values"])]
    rows = [[method, metric, *(f"{percent(m)} ± {percent(s)}" for m, s in zip(series["mean"], series["std"]))]
            for method, metrics in factor["methods"].items() for metric, series in metrics.items()]
    lines += markdown_table(header, rows)
    lines += ["", f"Figures: `plots/sweep_{name}_f1.png`, `plots/sweep_{name}_roc_auc.png`.", ""]
  return "\n".join(lines)


def sweep(config: ml_collections.ConfigDict, workdir: str | pathlib.Path) -> dict:
  """Runs every factor of config.sweep; writes sweep.json, sweep.md and the plots; returns the results."""
  base, settings = split_config(config, "sweep")
  methods = parse_names(settings.methods, "sweep.methods")
  seeds = distinct_values(settings.seeds, "sweep.seeds", int)
  names = parse_names(settings.factors, "sweep.factors", FACTORS)
  # Every value is checked before any training.
  values = {name: distinct_values(settings.levels[name], f"sweep.levels.{name}") for name in names}
  workdir = pathlib.Path(workdir).expanduser().resolve()
  workdir.mkdir(parents=True, exist_ok=True)
  (workdir / "sweep_config.json").write_text(config.to_json(indent=2) + "\n")
  results = {"protocol": f"at each value, {protocol(base.eval.folds, seeds)}", "factors": {}}
  plots = workdir / "plots"
  plots.mkdir(exist_ok=True)
  for name in names:
    factor = results["factors"][name] = sweep_factor(base, name, values[name], methods, seeds, workdir)
    for metric in PLOTTED_METRICS:
      figures.plot_sweep(factor["label"], factor["values"],
                         {m: (s[metric]["mean"], s[metric]["std"]) for m, s in factor["methods"].items()}, metric,
                         plots / f"sweep_{name}_{metric}.png")
    (workdir / "sweep.json").write_text(json.dumps(results, indent=2) + "\n")  # after each factor: partial results
  (workdir / "sweep.md").write_text(sweep_markdown(results))
  return results
