"""Keyed pseudonyms of patient identifiers, so that no PatientID leaves a run in its outputs.

A run directory holds a random secret (`pseudonym.key`, readable by its owner only); a patient's
pseudonym is an HMAC-SHA256 of the PatientID under that key, cut to 16 hex digits. Within a run
the same patient always has the same pseudonym, so grouping and per-patient analysis of
`scores.csv` still work, while without the key the pseudonym reveals nothing (a plain hash of a
TCGA or hospital ID could be reversed by hashing the candidates). Delete the key to make the
pseudonyms unlinkable for good.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import pathlib
import secrets

KEY_FILE = "pseudonym.key"
PREFIX = "patient-"


def run_key(workdir: str | os.PathLike) -> bytes:
  """The run's secret, created on first use (owner-only permissions)."""
  path = pathlib.Path(workdir) / KEY_FILE
  if not path.is_file():
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as f:
      f.write(secrets.token_hex(32))
  return bytes.fromhex(path.read_text().strip())


def pseudonym(patient_id: str, key: bytes) -> str:
  """The keyed pseudonym of one patient identifier."""
  return PREFIX + hmac.new(key, str(patient_id).encode("utf-8"), hashlib.sha256).hexdigest()[:16]
