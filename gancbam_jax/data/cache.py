"""On-disk cache of preprocessed slices, keyed by file content and preprocessing settings.

Decoding a 512x512 DICOM costs milliseconds; reading a cached 64x64 float32 array costs
microseconds, so a second run (or a second fold) never decodes again. The key is the SHA-256 of
the file's bytes, so a renamed or copied file still hits and a changed file misses; the settings'
fingerprint names the namespace, so changing the window or size never returns stale arrays.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import tempfile

import numpy as np

from gancbam_jax.data.preprocess import PreprocessSettings

DEFAULT_CACHE_DIR = pathlib.Path("~/.cache/gancbam_jax")


def resolve_cache_dir(cache_dir: str | os.PathLike | None = None) -> pathlib.Path:
  """The absolute cache directory: `cache_dir` if given, else $GANCBAM_CACHE, else ~/.cache/gancbam_jax."""
  chosen = cache_dir or os.environ.get("GANCBAM_CACHE") or DEFAULT_CACHE_DIR
  return pathlib.Path(chosen).expanduser().resolve()


def content_hash(data: bytes) -> str:
  return hashlib.sha256(data).hexdigest()


@dataclasses.dataclass(frozen=True)
class CachedSlices:
  """The preprocessed frames of one file: pixels (frames, size, size, channels) float32 in windowed HU.

  `kind`, `values` and `colour` say what the file was, as `CtSlices` does.
  """

  pixels: np.ndarray
  patient_id: str | None
  sop_instance_uid: str | None
  kind: str
  values: str
  colour: bool


class SliceCache:
  """A directory of `<settings fingerprint>/<content hash>.npz` files."""

  def __init__(self, cache_dir: str | os.PathLike, settings: PreprocessSettings):
    self.directory = pathlib.Path(cache_dir).expanduser().resolve() / settings.fingerprint()

  def path_for(self, digest: str) -> pathlib.Path:
    return self.directory / digest[:2] / f"{digest}.npz"

  def load(self, digest: str) -> CachedSlices | None:
    """The cached entry, or None when absent or unreadable (a crash mid-write leaves no entry)."""
    path = self.path_for(digest)
    if not path.is_file():
      return None
    try:
      with np.load(path, allow_pickle=False) as entry:
        return CachedSlices(pixels=entry["pixels"], patient_id=str(entry["patient_id"]) or None,
                            sop_instance_uid=str(entry["sop_instance_uid"]) or None, kind=str(entry["kind"]),
                            values=str(entry["values"]), colour=bool(entry["colour"]))
    except (OSError, ValueError, KeyError):
      return None

  def store(self, digest: str, entry: CachedSlices) -> pathlib.Path:
    """Writes atomically (temporary file, then rename), so readers never see half a file."""
    path = self.path_for(digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as tmp:
      np.savez(tmp, pixels=entry.pixels.astype(np.float32), patient_id=np.str_(entry.patient_id or ""),
               sop_instance_uid=np.str_(entry.sop_instance_uid or ""), kind=np.str_(entry.kind),
               values=np.str_(entry.values), colour=np.bool_(entry.colour))
    os.replace(tmp.name, path)
    return path


class DigestIndex:
  """Remembers each file's content hash by its size and modification time.

  With it, a warm load finds every cache entry from `stat` alone, without reading or hashing the
  files, the shortcut make and git take. A file rewritten with the same size and the same
  nanosecond mtime would be missed; a lost or stale index only costs re-hashing, never a wrong
  array, because entries are still found by content hash.
  """

  def __init__(self, cache_dir: str | os.PathLike):
    self.path = pathlib.Path(cache_dir) / "digests.json"
    try:
      self._entries = json.loads(self.path.read_text())
    except (OSError, ValueError):
      self._entries = {}

  @staticmethod
  def _signature(path: str) -> list[int]:
    stat = os.stat(path)
    return [stat.st_size, stat.st_mtime_ns]

  def lookup(self, path: str) -> str | None:
    """The remembered digest of `path`, or None when unknown or the file changed."""
    entry = self._entries.get(path)
    try:
      return entry[2] if entry and entry[:2] == self._signature(path) else None
    except OSError:
      return None

  def remember(self, path: str, digest: str) -> None:
    self._entries[path] = [*self._signature(path), digest]

  def save(self) -> None:
    self.path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=self.path.parent, suffix=".tmp", delete=False) as tmp:
      json.dump(self._entries, tmp)
    os.replace(tmp.name, self.path)
