"""Realism of the synthetic CT: HU histograms inside the body, phantom vs the real SIIM slices.

  python benchmarks/phantom_realism.py --json phantom_realism.json [--real DIR] [--n 60]

Pixels above -900 HU (after padding is mapped to air) count as inside the body; that keeps
lung parenchyma (about -850 HU) and drops the air around the patient. Reported for phantom vs
real: the Wasserstein-1 distance in HU, the intersection of the normalised histograms (1 =
identical), and the share of each tissue class. The same figures between the real
contrast-enhanced and real unenhanced slices give the scale of differences between real scans.
Also reports the generation speed. Writes a PNG overlay of the histograms next to the JSON.
"""

import argparse
import json
import pathlib
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (the backend must be chosen first)
import numpy as np  # noqa: E402

from gancbam_jax.data import LayoutSpec, list_labelled_files, read_ct_slices  # noqa: E402
from gancbam_jax.data.phantom import generate_slices  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_REAL = REPO_ROOT.parent / "shared" / "data" / "siim-ct-sample"
BODY_ABOVE_HU = -900.0
HISTOGRAM_BINS = np.arange(-900.0, 1510.0, 10.0)
# (name, low, high) in HU; the classes tile the body range.
TISSUES = (("lung_air", -np.inf, -500.0), ("partial_volume", -500.0, -200.0), ("fat", -200.0, -30.0),
           ("soft_tissue", -30.0, 150.0), ("enhanced_or_bone", 150.0, np.inf))
QUANTILES = np.linspace(0.0005, 0.9995, 2000)


def body_pixels(slices: np.ndarray) -> np.ndarray:
  """HU of the pixels inside the body of a stack of slices, pooled."""
  return slices[slices > BODY_ABOVE_HU].astype(np.float64)


def wasserstein1(a: np.ndarray, b: np.ndarray) -> float:
  """Wasserstein-1 distance in HU between two samples: mean gap between their quantile functions."""
  return float(np.mean(np.abs(np.quantile(a, QUANTILES) - np.quantile(b, QUANTILES))))


def histogram(values: np.ndarray) -> np.ndarray:
  """Share of values per HISTOGRAM_BINS bin (values beyond the range count in the end bins)."""
  counts, _ = np.histogram(np.clip(values, HISTOGRAM_BINS[0], HISTOGRAM_BINS[-1] - 1e-3), HISTOGRAM_BINS)
  return counts / counts.sum()


def histogram_intersection(a: np.ndarray, b: np.ndarray) -> float:
  """Sum over bins of the smaller share: 1 for identical histograms, 0 for disjoint ones."""
  return float(np.minimum(histogram(a), histogram(b)).sum())


def tissue_fractions(values: np.ndarray) -> dict[str, float]:
  return {name: round(float(np.mean((values >= low) & (values < high))), 4) for name, low, high in TISSUES}


def compare(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
  return {"wasserstein1_hu": round(wasserstein1(a, b), 1),
          "histogram_intersection": round(histogram_intersection(a, b), 3)}


def load_real(root: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
  """The real slices (HU, padding as air) and their Contrast flags, from a Kaggle-layout directory."""
  files = list_labelled_files(root, LayoutSpec("kaggle", label_column="Contrast", anomalous_value="True")).files
  slices = np.stack([read_ct_slices(f.path).hu[0] for f in files])
  return slices, np.array([f.label == 1 for f in files])


def plot(path: pathlib.Path, samples: dict[str, np.ndarray], figures: dict) -> None:
  """Two panels: phantom vs real, and real contrast vs real unenhanced."""
  centres = (HISTOGRAM_BINS[:-1] + HISTOGRAM_BINS[1:]) / 2
  fig, axes = plt.subplots(1, 2, figsize=(13, 4.5), sharey=True)
  panels = ((("phantom", "real"), figures["phantom_vs_real"]),
            (("real_contrast", "real_non_contrast"), figures["reference_real_contrast_vs_non_contrast"]))
  for ax, (names, scores) in zip(axes, panels):
    for name in names:
      ax.plot(centres, histogram(samples[name]), label=f"{name} ({samples[name].size:,} px)")
    ax.set_yscale("log")
    ax.set_xlabel("HU (pixels above -900 HU)")
    ax.set_title(f"W1 {scores['wasserstein1_hu']} HU, intersection {scores['histogram_intersection']}")
    ax.legend()
  axes[0].set_ylabel("share of body pixels per 10 HU")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--json", required=True, help="Write the figures here; the PNG goes next to it.")
  parser.add_argument("--real", default=str(DEFAULT_REAL), help="Real slices in the Kaggle layout.")
  parser.add_argument("--n", type=int, default=60, help="Phantom slices to generate.")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--preset", default="medium")
  args = parser.parse_args()
  real, contrast = load_real(pathlib.Path(args.real))
  start = time.perf_counter()
  phantom, _ = generate_slices(args.n, args.seed, args.preset)
  ms_per_slice = (time.perf_counter() - start) * 1000 / args.n
  samples = {"phantom": body_pixels(phantom), "real": body_pixels(real),
             "real_contrast": body_pixels(real[contrast]), "real_non_contrast": body_pixels(real[~contrast])}
  figures = {
      "n_phantom": args.n, "n_real": len(real), "preset": args.preset, "seed": args.seed,
      "body_above_hu": BODY_ABOVE_HU, "generation_ms_per_slice": round(ms_per_slice, 1),
      "phantom_vs_real": compare(samples["phantom"], samples["real"]),
      "reference_real_contrast_vs_non_contrast": compare(samples["real_contrast"], samples["real_non_contrast"]),
      "tissue_fractions": {name: tissue_fractions(values) for name, values in samples.items()},
      "body_area_fraction": {"phantom": round(float(np.mean(phantom > BODY_ABOVE_HU)), 3),
                             "real": round(float(np.mean(real > BODY_ABOVE_HU)), 3)},
      "mean_slice_hu": {"phantom": round(float(phantom.mean()), 1), "real": round(float(real.mean()), 1)},
  }
  json_path = pathlib.Path(args.json)
  plot(json_path.with_suffix(".png"), samples, figures)
  figures["plot"] = str(json_path.with_suffix(".png"))
  print(json.dumps(figures, indent=2))
  json_path.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
  main()
