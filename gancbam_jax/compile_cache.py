"""JAX's persistent compilation cache, on by default under the project's cache directory.

A run compiles a few hundred functions (training steps, evaluation, export, timing). On a CPU that
is most of a short run: `configs/smoke.py` took 110 s with nothing cached, 69 s of it compiling, and
35 s when a previous run had filled the cache, 3.9 s of it reading the 271 executables back
(benchmarks/compile_cache.py, 2-core Xeon). JAX keys each executable on its program, shapes, devices and
JAX version, so the next run, fold, compared method or sweep value with the same shapes reads it
back instead of compiling it again. `config.compile_cache = False` turns it off.
"""

from __future__ import annotations

import dataclasses
import pathlib

import jax
from jax.experimental.compilation_cache import compilation_cache

from gancbam_jax.data.cache import resolve_cache_dir

DIRECTORY_NAME = "jax-compile"
# The directory is trimmed to this size, oldest executables first, once per process when the cache is
# switched on. Not JAX's own size limit: with one, JAX lists, stats and reads a timestamp file of every
# entry on every write, under a directory lock (measured: 80 ms per write at 1,300 entries, 2 s with
# a cold file cache), a cost that grows with the cache.
MAX_BYTES = 2 * 1024 ** 3
# JAX caches only what took at least 1 s to compile by default; on a CPU most of a run's functions
# compile in 0.1-1 s and together take most of its compile time.
MIN_COMPILE_SECONDS = 0.0
_REQUEST_EVENT = "/jax/compilation_cache/compile_requests_use_cache"
_HIT_EVENT = "/jax/compilation_cache/cache_hits"
_SAVED_EVENT = "/jax/compilation_cache/compile_time_saved_sec"
# XLA's compilation of one program, or its read from the persistent cache instead.
_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


@dataclasses.dataclass
class CompileCounts:
  """This process's compilations: looked up in the persistent cache, found there, time saved, time taken.

  compile_seconds counts every compilation, a read from the cache in its place included.
  """

  requests: int = 0
  hits: int = 0
  saved_seconds: float = 0.0
  compile_seconds: float = 0.0


_COUNTS = CompileCounts()
_listening = False


def _count_event(event: str, **_) -> None:
  if event == _REQUEST_EVENT:
    _COUNTS.requests += 1
  elif event == _HIT_EVENT:
    _COUNTS.hits += 1


def _count_duration(event: str, duration: float, **_) -> None:
  if event == _SAVED_EVENT:
    _COUNTS.saved_seconds += duration
  elif event == _COMPILE_EVENT:
    _COUNTS.compile_seconds += duration


def compile_cache_directory(config) -> pathlib.Path | None:
  """Where a config's runs keep compiled executables: <cache dir>/jax-compile, or None when switched off."""
  return resolve_cache_dir(config.data.cache_dir) / DIRECTORY_NAME if config.compile_cache else None


def use_compile_cache(directory: pathlib.Path | None) -> None:
  """Compiles through the persistent cache in `directory` from now on; None compiles without one."""
  global _listening
  if not _listening:
    jax.monitoring.register_event_listener(_count_event)
    jax.monitoring.register_event_duration_secs_listener(_count_duration)
    _listening = True
  wanted = str(directory) if directory is not None else None
  if jax.config.jax_enable_compilation_cache == (wanted is not None) and jax.config.jax_compilation_cache_dir == wanted:
    return
  jax.config.update("jax_enable_compilation_cache", wanted is not None)
  jax.config.update("jax_compilation_cache_dir", wanted)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
  jax.config.update("jax_compilation_cache_max_size", -1)  # no eviction scan per write: trim_directory instead
  if directory is not None:
    trim_directory(directory, MAX_BYTES)
  # JAX opens its cache at the first compilation; a process that compiled before (a notebook, a test
  # session) would otherwise keep its earlier choice.
  compilation_cache.reset_cache()


def trim_directory(directory: pathlib.Path, max_bytes: int) -> int:
  """Deletes the oldest-written entries of a compile cache until it holds at most `max_bytes`; returns how many.

  An entry another process deletes first, or is writing now, is skipped: a missing executable is
  compiled again, never an error.
  """
  entries = []
  for path in pathlib.Path(directory).glob("*"):
    try:
      status = path.stat()
    except FileNotFoundError:
      continue
    entries.append((status.st_mtime, status.st_size, path))
  excess = sum(size for _, size, _ in entries) - max_bytes
  removed = 0
  for _, size, path in sorted(entries):
    if excess <= 0:
      break
    path.unlink(missing_ok=True)
    excess -= size
    removed += 1
  return removed


def compile_counts() -> CompileCounts:
  """A copy of this process's cache counts so far."""
  return dataclasses.replace(_COUNTS)


def current_directory() -> str | None:
  """The directory compilations are cached in now, or None."""
  return jax.config.jax_compilation_cache_dir if jax.config.jax_enable_compilation_cache else None


def summary_line() -> str:
  """One line on the cache's use in this process, for the end of a command."""
  directory = current_directory()
  if directory is None:
    return "compile cache: off"
  counts = compile_counts()
  return (f"compile cache {directory}: {counts.hits} of {counts.requests} compilations read from it, compiling "
          f"took {counts.compile_seconds:.0f} s (JAX's estimate of the time saved: {max(counts.saved_seconds, 0.0):.0f} s)")
