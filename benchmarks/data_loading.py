"""Data-loading throughput: 512x512 CT files -> HU -> window -> resize -> cached array, in slices/s.

  python benchmarks/data_loading.py --json data_loading.json [--n 240] [--workers 2]

Measures, on the built-in synthetic CT slices as DICOM (uncompressed and RLE-compressed), as 16-bit
PNG (HU + 1024, class folders) and as NIfTI volumes (one .nii.gz per patient and class): a cold
load (decode and write the cache) with one worker and with all workers, a warm load (every file a
cache hit), and reading the cached arrays into memory. Process start-up is inside the cold figures,
as a user sees it.
"""

import argparse
import json
import os
import pathlib
import platform
import tempfile
import time

import nibabel
import numpy as np
import pydicom
from PIL import Image
from pydicom.uid import RLELossless

from gancbam_jax.data import LayoutSpec, PreprocessSettings, load_ct_dataset, read_ct_slices
from gancbam_jax.data.layouts import KAGGLE_DICOM_DIR, KAGGLE_TABLE, list_labelled_files
from gancbam_jax.data.phantom import write_dataset

KAGGLE = LayoutSpec(label_column="Anomaly")
# Voxel axes anterior -> posterior, right -> left, superior -> inferior: DICOM's rows and columns as stored.
DICOM_ORDER_AFFINE = np.array([[0, -0.7, 0, 0], [-0.7, 0, 0, 0], [0, 0, -5.0, 0], [0, 0, 0, 1]])


def _rle_copy(source: pathlib.Path, target: pathlib.Path) -> pathlib.Path:
  """The same dataset with every DICOM file RLE-compressed (a lossless syntax scanners emit)."""
  (target / KAGGLE_DICOM_DIR).mkdir(parents=True)
  (target / KAGGLE_TABLE).write_bytes((source / KAGGLE_TABLE).read_bytes())
  for path in sorted((source / KAGGLE_DICOM_DIR).glob("*.dcm")):
    ds = pydicom.dcmread(path)
    ds.compress(RLELossless)
    ds.save_as(target / KAGGLE_DICOM_DIR / path.name)
  return target


def _labelled_hu(source: pathlib.Path):
  """(HU slice, class name, PatientID, file name) of each slice of a Kaggle-layout dataset."""
  listing = list_labelled_files(source, KAGGLE)
  for item in listing.files:
    decoded = read_ct_slices(item.path)
    yield decoded.hu[0], listing.class_names[item.label], decoded.patient_id, item.path.stem


def _png_copy(source: pathlib.Path, target: pathlib.Path) -> tuple[pathlib.Path, LayoutSpec]:
  """The same slices as 16-bit PNG storing HU + 1024, one folder per class."""
  for hu, label, _, name in _labelled_hu(source):
    (target / label).mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(hu + 1024, 0, 65535).astype(np.uint16)).save(target / label / f"{name}.png")
  return target, LayoutSpec("folders")


def _nifti_copy(source: pathlib.Path, target: pathlib.Path) -> tuple[pathlib.Path, LayoutSpec]:
  """The same slices as one gzip-compressed NIfTI volume per patient and class, listed in volumes.csv."""
  volumes: dict[tuple[str, str], list] = {}
  for hu, label, patient, _ in _labelled_hu(source):
    volumes.setdefault((patient, label), []).append(hu)
  target.mkdir(parents=True)
  rows = ["path,label,patient"]
  for (patient, label), stack in sorted(volumes.items()):
    name = f"{patient}_{label}.nii.gz"
    nibabel.save(nibabel.Nifti1Image(np.stack(stack, axis=-1).astype(np.int16), DICOM_ORDER_AFFINE), target / name)
    rows.append(f"{name},{label},{patient}")
  (target / "volumes.csv").write_text("\n".join(rows) + "\n")
  return target, LayoutSpec("csv", table="volumes.csv", label_column="label", anomalous_value="anomalous",
                            patient_column="patient")


def _timed_load(root: pathlib.Path, layout: LayoutSpec, cache: pathlib.Path, workers: int,
                settings: PreprocessSettings) -> tuple[float, object]:
  start = time.perf_counter()
  dataset = load_ct_dataset(root, layout=layout, settings=settings, cache_dir=cache, num_workers=workers,
                            progress=False)
  return time.perf_counter() - start, dataset


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--json", required=True, help="Write the figures here as one JSON object.")
  parser.add_argument("--n", type=int, default=240, help="Slices to load.")
  parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="Decoding processes.")
  parser.add_argument("--image-size", type=int, default=64)
  args = parser.parse_args()
  settings = PreprocessSettings(image_size=args.image_size, image_rescale=(1.0, -1024.0))  # the PNG copy's rescale
  figures = {"n_slices": args.n, "source_size": [512, 512], "image_size": args.image_size, "workers": args.workers,
             "cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine(),
             "date": time.strftime("%Y-%m-%d")}
  with tempfile.TemporaryDirectory() as tmp:
    tmp = pathlib.Path(tmp)
    write_dataset(tmp / "plain", n=args.n, seed=0, preset="medium")
    datasets = {"uncompressed": (tmp / "plain", KAGGLE), "rle": (_rle_copy(tmp / "plain", tmp / "rle"), KAGGLE),
                "png16": _png_copy(tmp / "plain", tmp / "png"), "nifti": _nifti_copy(tmp / "plain", tmp / "nifti")}
    for kind, (root, layout) in datasets.items():
      for workers in sorted({1, args.workers}):
        seconds, dataset = _timed_load(root, layout, tmp / f"cache-{kind}-{workers}", workers, settings)
        figures[f"{kind}_cold_slices_per_s_{workers}_workers"] = round(len(dataset) / seconds, 1)
      seconds, dataset = _timed_load(root, layout, tmp / f"cache-{kind}-{args.workers}", args.workers, settings)
      figures[f"{kind}_warm_slices_per_s"] = round(len(dataset) / seconds, 1)
    start = time.perf_counter()
    images = dataset.images()
    figures["cache_read_slices_per_s"] = round(len(images) / (time.perf_counter() - start), 1)
  for key, value in figures.items():
    print(f"{key:45s} {value}")
  pathlib.Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
  main()
