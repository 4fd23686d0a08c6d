"""Export a finished run's detector: jax.export of images -> (scores, heatmaps), Flax variables, manifest.

  manifest = export_run("runs/default", "export/")             # the checkpoint evaluation selected
  manifest = export_run("runs/default", "export/", step=40)    # another kept step of the detector's stage

The run is restored exactly as launch/evaluate.py restores it (never trained), and the exported
variables are evaluated again by the same protocol: the threshold in the manifest is chosen on
the validation split for these very variables, and the test metrics beside it are theirs.
"""

from __future__ import annotations

import pathlib
import platform
from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import jaxlib
from flax import serialization
from jax import export

import gancbam_jax
from gancbam_jax.data.source import preprocess_settings
from gancbam_jax.detect.detectors import Detector, build_detector
from gancbam_jax.detect.evaluation import evaluate
from gancbam_jax.experiment import read_run_config, saved_fold
from gancbam_jax.export.manifest import EXPORT_FILES, MANIFEST_FILE, MODEL_FILE, VARIABLES_FILE, ExportError, write_manifest
from gancbam_jax.train.pipeline import Run, prepare_run

# The exported module holds one lowering per platform; the runtime picks the one it runs on.
PLATFORMS = ("cpu", "cuda")
# Metrics copied into the manifest from the exported variables' evaluation.
MANIFEST_METRICS = ("accuracy", "precision", "recall", "f1", "specificity", "roc_auc", "pr_auc", "n_test",
                    "prevalence", "confusion_matrix", "confidence_intervals")

ServingFunction = Callable[[jax.Array], tuple[jax.Array, jax.Array]]


def serving_function(detector: Detector, image_size: int) -> ServingFunction:
  """images (N, S, S, C) -> (scores (N,), heatmaps (N, S, S)) float32, with the detector's weights built in.

  Heatmaps coarser than the image (attention maps of the encoder) are resized bilinearly to the
  image, so every method's map overlays its slice pixel for pixel.
  """
  variables = jax.device_get(detector.variables)  # host arrays: constants of the exported module

  def scores_and_heatmaps(images: jax.Array) -> tuple[jax.Array, jax.Array]:
    scores, heatmaps = detector.outputs(variables, images)
    heatmaps = jax.image.resize(heatmaps.astype(jnp.float32), (images.shape[0], image_size, image_size), "linear")
    return scores.astype(jnp.float32), heatmaps

  return scores_and_heatmaps


def check_out_directory(out: pathlib.Path) -> None:
  """Refuses an `out` that is a file or a directory holding anything but a previous export."""
  if out.exists() and not out.is_dir():
    raise ExportError(f"{out} exists and is not a directory; choose another --out")
  if out.is_dir():
    foreign = sorted(p.name for p in out.iterdir() if p.name not in (*EXPORT_FILES, MANIFEST_FILE))
    if foreign:
      raise ExportError(f"{out} holds files that are not an export ({', '.join(foreign[:5])}); choose an empty or "
                        "new --out directory, or a previous export's directory to replace it")


def _prepare_directory(out: pathlib.Path) -> None:
  """Creates `out`, or empties the previous export there."""
  check_out_directory(out)
  # The manifest goes first: a directory without one is never mistaken for a complete export.
  for name in (MANIFEST_FILE, *EXPORT_FILES):
    (out / name).unlink(missing_ok=True)
  out.mkdir(parents=True, exist_ok=True)


def write_export(out: str | pathlib.Path, function: ServingFunction, variables: Any, input_shape: tuple[int, int, int],
                 description: dict) -> dict:
  """Serialises `function` for a symbolic batch on every platform, the variables, and the manifest.

  `input_shape` is one image's (S, S, C): C channels, one per HU window of the preprocessing.
  `description` holds the manifest's content beyond files and versions: method, preprocess,
  normalization, threshold, labels and what documents them. Returns the manifest written.
  """
  out = pathlib.Path(out).expanduser().resolve()
  _prepare_directory(out)
  batch, = export.symbolic_shape("batch")
  image_size = input_shape[0]
  spec = jax.ShapeDtypeStruct((batch, *input_shape), jnp.float32)
  exported = export.export(jax.jit(function), platforms=PLATFORMS)(spec)
  (out / MODEL_FILE).write_bytes(exported.serialize())
  (out / VARIABLES_FILE).write_bytes(serialization.msgpack_serialize(jax.device_get(variables)))
  return write_manifest(out, {
      "package": {"name": "gancbam-jax", "version": gancbam_jax.__version__},
      "versions": {"jax": jax.__version__, "jaxlib": jaxlib.__version__, "flax": flax.__version__,
                   "python": platform.python_version()},
      "platforms": list(exported.platforms),
      **description,
      "input": {"shape": [None, *input_shape], "dtype": "float32", "layout": "NHWC",
                "values": "one channel per HU window of 'preprocess', each Min-Max normalised with 'normalization' "
                          "(about [0, 1])"},
      "outputs": {"scores": {"shape": [None], "meaning": "higher is more anomalous; flagged at score >= threshold"},
                  "heatmaps": {"shape": [None, image_size, image_size], "meaning": description.get("heatmap", "")}},
  })


def describe_run(run: Run, detector: Detector, results: dict) -> dict:
  """The manifest's account of a run's detector: preprocessing, threshold, labels, model, metrics."""
  data = run.data
  anomalous = data.dataset.anomalous_class
  others = [name for name in data.class_names if name != anomalous]
  return {
      "method": detector.method, "method_description": detector.description, "heatmap": detector.heatmap,
      "preprocess": preprocess_settings(run.config.data).to_dict(), "normalization": data.normalization.to_dict(),
      "trained_on": {"files": data.dataset.report.inputs, "value_scales": data.dataset.report.value_scales},
      "threshold": results["threshold"], "threshold_rule": results["threshold_rule"],
      "class_names": list(data.class_names), "anomalous_class": anomalous,
      "labels": {"flagged": anomalous, "not_flagged": others[0] if len(others) == 1 else f"not {anomalous}"},
      "model": {"variant": run.config.model.variant, "latent_dim": run.config.model.latent_dim,
                "upsample": run.config.model.upsample, "dtype": run.config.model.dtype,
                "image_size": run.config.data.image_size},
      "selected_checkpoint": detector.selection,
      "evaluation": results["evaluation"], "dataset": results["dataset"], "label_meaning": results["label_meaning"],
      "label_is_proxy": results["label_is_proxy"], "splits": results["splits"],
      "validation_metrics": results["validation"],
      "test_metrics": {key: results[key] for key in MANIFEST_METRICS if key in results},
  }


def export_run(workdir: str | pathlib.Path, out: str | pathlib.Path, step: int | None = None) -> dict:
  """Restores a finished run, evaluates the variables to export, and writes the export to `out`.

  Args:
    workdir: a single-split run directory, or one fold (folds/fold<k>) of a cross-validation.
    out: the export directory (created; a previous export there is replaced).
    step: a kept checkpoint step of the detector's own stage; default the one evaluation selected.

  Raises:
    ExportError: `workdir` is a cross-validation (one model per fold) or `out` is not usable.
    IncompleteRunError: a stage is not finished.
  """
  workdir = pathlib.Path(workdir).expanduser().resolve()
  check_out_directory(pathlib.Path(out).expanduser().resolve())  # before minutes of restoring, not after
  config = read_run_config(workdir)
  fold = saved_fold(workdir)
  if config.eval.folds > 1 and fold is None:
    raise ExportError(f"{workdir} is a {config.eval.folds}-fold cross-validation with one model per fold; export "
                      f"one of them: --workdir {workdir / 'folds' / 'fold0'} (up to fold{config.eval.folds - 1})")
  run = prepare_run(config, workdir, fold, restore_only=True)
  try:
    detector = build_detector(run)
    if step is not None:
      detector = detector.at_step(workdir, step)
    results = evaluate(run, detector, fold, write=False).results
    input_shape = (config.data.image_size, config.data.image_size, len(config.data.hu_windows))
    manifest = write_export(out, serving_function(detector, config.data.image_size), detector.variables,
                            input_shape, describe_run(run, detector, results))
  finally:
    run.log.close()
  return manifest
