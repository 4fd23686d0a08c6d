"""Write phantom slices as CT DICOM files plus overview.csv, in the Kaggle "CT Medical Images" layout.

The files look like a scanner's: CT Image Storage, Explicit VR Little Endian, signed 16-bit
pixels with RescaleIntercept -1024, and the area outside the circular field of view stored as
padding at -3024 HU with PixelPaddingValue set. Nothing in them depends on the clock, so the
same slices give the same bytes.
"""

from __future__ import annotations

import csv
import os
import pathlib
import shutil
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from gancbam_jax.data.layouts import KAGGLE_DICOM_DIR, KAGGLE_TABLE

if TYPE_CHECKING:
  from gancbam_jax.data.phantom.dataset import PhantomSlice

OVERVIEW_PARTIAL = KAGGLE_TABLE + ".partial"
# The Kaggle overview's columns (the first is pandas' unnamed index), then the phantom's labels.
KAGGLE_COLUMNS = ("", "Age", "Contrast", "ContrastTag", "raw_input_path", "id", "tiff_name", "dicom_name")
LABEL_COLUMNS = ("PatientID", "Anomaly", "AnomalyType", "LesionRow", "LesionCol", "LesionRadiusPx")
OVERVIEW_COLUMNS = KAGGLE_COLUMNS + LABEL_COLUMNS
RESCALE_INTERCEPT = -1024
# Siemens scanners store the area outside the reconstruction circle at -3024 HU.
PADDING_HU = -3024
# A fixed acquisition date and time keep the files byte-identical between runs.
ACQUISITION_DATE = "20000101"
ACQUISITION_TIME = "120000"
SLICE_THICKNESS_MM = 5.0
MANUFACTURER = "gancbam-jax phantom"


class OutputDirError(FileExistsError):
  """The output directory holds something other than a phantom dataset."""


def kaggle_stem(record: PhantomSlice) -> str:
  """The Kaggle file name stem, e.g. ID_0007_AGE_0063_CONTRAST_1_CT."""
  return f"ID_{record.index:04d}_AGE_{record.age:04d}_CONTRAST_{int(record.contrast)}_CT"


def dicom_name(record: PhantomSlice) -> str:
  """The slice's file name inside dicom_dir/."""
  return kaggle_stem(record) + ".dcm"


def is_phantom_dataset(root: pathlib.Path) -> bool:
  """Whether root holds only a phantom dataset, complete or interrupted before overview.csv.

  Complete: overview.csv with the phantom's columns. Interrupted: no overview.csv, and the
  first file of dicom_dir says it was made by this generator. Either way nothing but
  overview.csv (or its partial write) and dicom_dir/*.dcm may be there.
  """
  overview, dicom_dir = root / KAGGLE_TABLE, root / KAGGLE_DICOM_DIR
  if {entry.name for entry in root.iterdir()} - {KAGGLE_TABLE, OVERVIEW_PARTIAL, KAGGLE_DICOM_DIR}:
    return False
  files = sorted(dicom_dir.iterdir()) if dicom_dir.is_dir() else []
  if not all(path.is_file() and path.suffix == ".dcm" for path in files):
    return False
  if overview.is_file():
    with open(overview, newline="") as f:
      return tuple(next(csv.reader(f), ())) == OVERVIEW_COLUMNS
  return not files or _made_by_phantom(files[0])


def _made_by_phantom(path: pathlib.Path) -> bool:
  try:
    ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["Manufacturer"])
  except Exception:  # Unreadable means unverified: refuse rather than delete.
    return False
  return ds.get("Manufacturer") == MANUFACTURER


def prepare_output_dir(root: pathlib.Path) -> pathlib.Path:
  """Makes root ready for a new dataset and returns its dicom_dir.

  Replaces a previous phantom dataset; refuses any other non-empty directory.
  """
  if root.exists() and not root.is_dir():
    raise OutputDirError(f"{root} is a file; give a directory for the phantom dataset")
  if root.exists() and any(root.iterdir()):
    if not is_phantom_dataset(root):
      raise OutputDirError(
          f"{root} is not empty and is not a phantom dataset (only overview.csv with the phantom's columns "
          f"and {KAGGLE_DICOM_DIR}/*.dcm); refusing to overwrite it. Choose a new or empty directory.")
    for table in (KAGGLE_TABLE, OVERVIEW_PARTIAL):
      (root / table).unlink(missing_ok=True)
    shutil.rmtree(root / KAGGLE_DICOM_DIR, ignore_errors=True)
  dicom_dir = root / KAGGLE_DICOM_DIR
  dicom_dir.mkdir(parents=True, exist_ok=True)
  return dicom_dir


def _decimal(value: float) -> str:
  """A DICOM decimal string (at most 16 characters)."""
  return f"{value:.6f}".rstrip("0").rstrip(".")


def ct_dataset(hu: np.ndarray, padding: np.ndarray, record: PhantomSlice) -> pydicom.Dataset:
  """A CT Image Storage dataset for one slice of int16 HU; pixels where padding is set become padding."""
  meta = FileMetaDataset()
  meta.MediaStorageSOPClassUID = CTImageStorage
  meta.MediaStorageSOPInstanceUID = record.sop_uid
  meta.TransferSyntaxUID = ExplicitVRLittleEndian
  ds = pydicom.Dataset()
  ds.file_meta = meta
  ds.SpecificCharacterSet = "ISO_IR 100"
  ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
  ds.SOPClassUID = CTImageStorage
  ds.SOPInstanceUID = record.sop_uid
  ds.StudyDate = ds.SeriesDate = ds.ContentDate = ACQUISITION_DATE
  ds.StudyTime = ds.SeriesTime = ds.ContentTime = ACQUISITION_TIME
  ds.AccessionNumber = ""
  ds.Modality = "CT"
  ds.Manufacturer = MANUFACTURER
  ds.ReferringPhysicianName = ""
  ds.StudyDescription = "Synthetic chest CT"
  ds.SeriesDescription = "Axial chest, synthetic phantom"
  ds.PatientName = record.patient_id.replace("-", "^")
  ds.PatientID = record.patient_id
  ds.PatientBirthDate = ""
  ds.PatientSex = record.sex
  ds.PatientAge = f"{record.age:03d}Y"
  ds.PatientIdentityRemoved = "YES"
  ds.BodyPartExamined = "CHEST"
  ds.SliceThickness = _decimal(SLICE_THICKNESS_MM)
  ds.KVP = "120"
  if record.contrast_tag != "NONE":
    ds.ContrastBolusAgent = record.contrast_tag
  ds.ConvolutionKernel = "STANDARD"
  ds.PatientPosition = "HFS"
  ds.StudyInstanceUID = record.study_uid
  ds.SeriesInstanceUID = record.series_uid
  ds.StudyID = "1"
  ds.SeriesNumber = 1
  ds.InstanceNumber = record.instance_number
  rows, cols = hu.shape
  corner = -(cols - 1) / 2 * record.pixel_spacing_mm
  ds.ImagePositionPatient = [_decimal(corner), _decimal(corner), _decimal(record.slice_location_mm)]
  ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
  ds.FrameOfReferenceUID = record.frame_of_reference_uid
  ds.PositionReferenceIndicator = ""
  ds.SliceLocation = _decimal(record.slice_location_mm)
  ds.SamplesPerPixel = 1
  ds.PhotometricInterpretation = "MONOCHROME2"
  ds.Rows, ds.Columns = rows, cols
  ds.PixelSpacing = [_decimal(record.pixel_spacing_mm)] * 2
  ds.BitsAllocated = ds.BitsStored = 16
  ds.HighBit = 15
  ds.PixelRepresentation = 1
  ds.PixelPaddingValue = PADDING_HU - RESCALE_INTERCEPT
  ds.WindowCenter, ds.WindowWidth = "40", "400"
  ds.RescaleIntercept = str(RESCALE_INTERCEPT)
  ds.RescaleSlope = "1"
  ds.RescaleType = "HU"
  ds.ImageComments = "Synthetic chest CT phantom (gancbam-jax); not patient data"
  stored = np.where(padding, PADDING_HU, hu.astype(np.int32)) - RESCALE_INTERCEPT
  ds.PixelData = stored.astype("<i2").tobytes()
  return ds


def write_ct_slice(path: pathlib.Path, hu: np.ndarray, padding: np.ndarray, record: PhantomSlice) -> None:
  """Writes one slice of int16 HU as a DICOM Part 10 file."""
  ct_dataset(hu, padding, record).save_as(path, enforce_file_format=True)


def overview_row(record: PhantomSlice) -> list[str]:
  """The slice's overview.csv row, in OVERVIEW_COLUMNS order."""
  stem = kaggle_stem(record)
  lesion_cells = ["", "", ""]
  if record.lesion_radius_px is not None:
    lesion_cells = [str(record.lesion_row), str(record.lesion_col), f"{record.lesion_radius_px:.2f}"]
  raw_input_path = f"../data/phantom/{record.patient_id}/IM-{record.instance_number:04d}.dcm"
  return [str(record.index), str(record.age), str(record.contrast), record.contrast_tag, raw_input_path,
          str(record.index), stem + ".tif", stem + ".dcm", record.patient_id, str(record.anomaly),
          record.anomaly_type, *lesion_cells]


def write_overview(root: pathlib.Path, records: Sequence[PhantomSlice]) -> pathlib.Path:
  """Writes root/overview.csv (one row per slice) and returns its path.

  Written to a temporary name and renamed, so a reader never sees half a table.
  """
  path, partial = root / KAGGLE_TABLE, root / OVERVIEW_PARTIAL
  with open(partial, "w", newline="") as f:
    writer = csv.writer(f, lineterminator="\n")
    writer.writerow(OVERVIEW_COLUMNS)
    writer.writerows(overview_row(record) for record in records)
  os.replace(partial, path)
  return path

