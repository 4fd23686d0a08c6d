"""Data parallelism over a device mesh: the batch is split over devices, everything else replicated.

`jax.jit` over a one-axis mesh with `NamedSharding` replaces `jax.pmap` (DESIGN.md): parameters
and the resident training set are replicated (`P()`), batches are split along 'data', and XLA
inserts the gradient all-reduce. BatchNorm then normalises with statistics of the whole global
batch, so a step computes the same numbers on 1 device as on 4, up to summation order.
"""

from __future__ import annotations

import functools
import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"


# Where a launcher that JAX does not detect (SLURM, Open MPI, Kubernetes and Cloud TPU it does) states
# the job: JAX itself reads only the coordinator's address from its environment (JAX_COORDINATOR_ADDRESS).
PROCESS_COUNT_VARIABLE = "JAX_NUM_PROCESSES"
PROCESS_ID_VARIABLE = "JAX_PROCESS_ID"


def _environment_int(name: str) -> int | None:
  value = os.environ.get(name)
  if value is None:
    return None
  try:
    return int(value)
  except ValueError:
    raise ValueError(f"environment variable {name}={value!r} must be an integer") from None


def initialize_distributed(enabled: bool) -> None:
  """Joins a multi-process job; a no-op when `enabled` is false (one process, all local devices).

  The coordinator, process count and process id come from the cluster JAX detects, or from
  JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID (e.g. several processes on one
  machine). Must run before any device is used.
  """
  if enabled:
    jax.distributed.initialize(num_processes=_environment_int(PROCESS_COUNT_VARIABLE),
                               process_id=_environment_int(PROCESS_ID_VARIABLE))


def is_chief() -> bool:
  """True on the process that writes logs, plots and summaries (process 0)."""
  return jax.process_index() == 0


def data_mesh(num_devices: int = 0) -> Mesh:
  """A one-axis mesh ('data',) over the first `num_devices` devices; 0 means all of them."""
  devices = jax.devices()
  if num_devices < 0 or num_devices > len(devices):
    raise ValueError(f"train.num_devices={num_devices} but {len(devices)} devices are available; use 0 for all")
  chosen = devices[:num_devices] if num_devices else devices
  return Mesh(np.asarray(chosen), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  """Every device holds the whole array (parameters, optimiser state, the resident dataset)."""
  return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh) -> NamedSharding:
  """Leading (batch) axis split over the devices."""
  return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def split_batch(tree, sharding: NamedSharding | None):
  """Inside a jitted step: constrains batch-leading arrays to `sharding` (split along 'data'); unchanged for None."""
  return tree if sharding is None else jax.lax.with_sharding_constraint(tree, sharding)


def replicate(tree, mesh: Mesh):
  """Copies a pytree of arrays to every device of the mesh.

  Always a copy: a train state built from another model's variables (the GAN's and the classifier's
  from the autoencoder's) is donated to its jitted step, which must not delete the source's buffers.
  """
  return jax.device_put(tree, replicated(mesh), may_alias=False)


def check_batch_divisible(batch_size: int, mesh: Mesh, field: str) -> None:
  """Raises ValueError unless the global batch splits evenly over the mesh's devices."""
  n = mesh.devices.size
  if batch_size % n:
    raise ValueError(f"{field}={batch_size} does not split over {n} devices; use a multiple of {n}")


def jit_step(step_fn, mesh: Mesh, **static):
  """A training step (state, key, *data) jitted for data parallelism: state donated and kept replicated.

  `step_fn` takes `batch_sharding` (to split the batch it draws over the mesh) and the `static`
  keyword arguments; every training stage and the training benchmarks jit their steps with this.
  """
  step = functools.partial(step_fn, batch_sharding=batch_sharded(mesh), **static)
  return jax.jit(step, donate_argnums=0, out_shardings=replicated(mesh))
