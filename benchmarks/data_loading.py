"""Data-loading throughput: 512x512 CT DICOM -> HU -> window -> resize -> cached array, in slices/s.

  python benchmarks/data_loading.py --json data_loading.json [--n 240] [--workers 2]

Measures, on built-in synthetic CT files (uncompressed and RLE-compressed): a cold load (decode and
write the cache) with one worker and with all workers, a warm load (every file a cache hit), and
reading the cached arrays into memory. Process start-up is inside the cold figures, as a user sees it.
"""

import argparse
import json
import os
import pathlib
import platform
import tempfile
import time

import pydicom
from pydicom.uid import RLELossless

from gancbam_jax.data import LayoutSpec, PreprocessSettings, load_ct_dataset
from gancbam_jax.data.layouts import KAGGLE_DICOM_DIR, KAGGLE_TABLE
from gancbam_jax.data.phantom import write_dataset


def _rle_copy(source: pathlib.Path, target: pathlib.Path) -> pathlib.Path:
  """The same dataset with every DICOM file RLE-compressed (a lossless syntax scanners emit)."""
  (target / KAGGLE_DICOM_DIR).mkdir(parents=True)
  (target / KAGGLE_TABLE).write_bytes((source / KAGGLE_TABLE).read_bytes())
  for path in sorted((source / KAGGLE_DICOM_DIR).glob("*.dcm")):
    ds = pydicom.dcmread(path)
    ds.compress(RLELossless)
    ds.save_as(target / KAGGLE_DICOM_DIR / path.name)
  return target


def _timed_load(root: pathlib.Path, cache: pathlib.Path, workers: int, settings: PreprocessSettings) -> tuple[float, object]:
  start = time.perf_counter()
  dataset = load_ct_dataset(root, layout=LayoutSpec(label_column="Anomaly"), settings=settings, cache_dir=cache, num_workers=workers,
                            progress=False)
  return time.perf_counter() - start, dataset


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--json", required=True, help="Write the figures here as one JSON object.")
  parser.add_argument("--n", type=int, default=240, help="Slices to load.")
  parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="Decoding processes.")
  parser.add_argument("--image-size", type=int, default=64)
  args = parser.parse_args()
  settings = PreprocessSettings(image_size=args.image_size)
  figures = {"n_slices": args.n, "source_size": [512, 512], "image_size": args.image_size, "workers": args.workers,
             "cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine(),
             "date": time.strftime("%Y-%m-%d")}
  with tempfile.TemporaryDirectory() as tmp:
    tmp = pathlib.Path(tmp)
    write_dataset(tmp / "plain", n=args.n, seed=0, preset="medium")
    datasets = {"uncompressed": tmp / "plain", "rle": _rle_copy(tmp / "plain", tmp / "rle")}
    for syntax, root in datasets.items():
      for workers in sorted({1, args.workers}):
        seconds, dataset = _timed_load(root, tmp / f"cache-{syntax}-{workers}", workers, settings)
        figures[f"{syntax}_cold_slices_per_s_{workers}_workers"] = round(len(dataset) / seconds, 1)
      seconds, dataset = _timed_load(root, tmp / f"cache-{syntax}-{args.workers}", args.workers, settings)
      figures[f"{syntax}_warm_slices_per_s"] = round(len(dataset) / seconds, 1)
    start = time.perf_counter()
    images = dataset.images()
    figures["cache_read_slices_per_s"] = round(len(images) / (time.perf_counter() - start), 1)
  for key, value in figures.items():
    print(f"{key:45s} {value}")
  pathlib.Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
  main()
