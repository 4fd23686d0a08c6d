"""The persistent compilation cache: what one compilation wrote, the next process (here: a cleared
in-memory cache) reads back; switched off, nothing is written."""

import os
import pathlib

import jax
import jax.numpy as jnp
import pytest

from configs import default
from gancbam_jax.compile_cache import (DIRECTORY_NAME, compile_cache_directory, compile_counts, current_directory,
                                       summary_line, trim_directory, use_compile_cache)


@pytest.fixture
def restore_cache_choice():
  """Puts the worker's cache choice back, so later tests compile as they did before."""
  previous = current_directory()
  yield
  use_compile_cache(pathlib.Path(previous) if previous else None)


def _compile_fresh(offset: float) -> None:
  """Compiles a function no other test compiles, after dropping JAX's in-memory caches."""
  jax.clear_caches()
  jax.jit(lambda x: jnp.tanh(x * 3.0) + offset)(jnp.arange(11.0)).block_until_ready()


def test_a_function_compiled_again_is_read_back_from_the_directory(tmp_path, restore_cache_choice):
  directory = tmp_path / DIRECTORY_NAME
  use_compile_cache(directory)
  first = compile_counts()
  _compile_fresh(0.125)
  written = compile_counts()
  compiled = written.requests - first.requests
  assert compiled >= 1 and written.hits == first.hits
  assert written.compile_seconds > first.compile_seconds
  assert any(directory.iterdir()), "the compiled executables were not written"
  _compile_fresh(0.125)
  read = compile_counts()
  assert read.hits - written.hits == compiled == read.requests - written.requests
  assert read.compile_seconds > written.compile_seconds  # a read from the cache is timed as its compilation
  assert summary_line().startswith(f"compile cache {directory}: ")


def test_switched_off_nothing_is_written_and_the_summary_says_so(tmp_path, restore_cache_choice):
  use_compile_cache(None)
  before = compile_counts()
  _compile_fresh(0.25)
  assert compile_counts().requests == before.requests
  assert summary_line() == "compile cache: off"


def test_the_directory_follows_the_data_cache_and_the_switch(tmp_path):
  config = default.get_config()
  config.data.cache_dir = str(tmp_path)
  assert compile_cache_directory(config) == tmp_path.resolve() / DIRECTORY_NAME
  config.compile_cache = False
  assert compile_cache_directory(config) is None


def test_trimming_deletes_the_oldest_entries_until_the_directory_fits(tmp_path):
  for age, name in enumerate(("newest", "middle", "oldest")):
    path = tmp_path / f"{name}-cache"
    path.write_bytes(b"x" * 100)
    os.utime(path, (1_000_000 - age * 10, 1_000_000 - age * 10))
  assert trim_directory(tmp_path, max_bytes=150) == 2
  assert [p.name for p in tmp_path.iterdir()] == ["newest-cache"]
  assert trim_directory(tmp_path, max_bytes=150) == 0


def test_switching_the_cache_on_trims_its_directory(tmp_path, restore_cache_choice, monkeypatch):
  from gancbam_jax import compile_cache

  directory = tmp_path / DIRECTORY_NAME
  directory.mkdir()
  (directory / "stale-cache").write_bytes(b"x" * 64)
  monkeypatch.setattr(compile_cache, "MAX_BYTES", 10)
  use_compile_cache(directory)
  assert not (directory / "stale-cache").exists()
