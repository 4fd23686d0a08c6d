"""Parameter counts per variant and resolution, as a markdown table for docs/models.md.

Run `python -m gancbam_jax.models.summary [--latent-dim 100] [--n-classes 2]` to print it.
"""

import argparse
import functools

import flax.linen as nn
import jax

from gancbam_jax.models.autoencoder import DEFAULT_LATENT_DIM, IMAGE_SIZES, VARIANTS, build_autoencoder
from gancbam_jax.models.gan import build_classifier, build_discriminator
from gancbam_jax.models.variables import Variables, count_params, init_variables


def _abstract_variables(model: nn.Module) -> Variables:
  # eval_shape: shapes alone, without running the initialisers.
  return jax.eval_shape(functools.partial(init_variables, model), jax.random.key(0))


def parameter_counts(latent_dim: int = DEFAULT_LATENT_DIM, n_classes: int = 2) -> list[dict[str, int | str]]:
  """One row per (variant, image size): encoder, decoder (= generator), autoencoder, D and C counts."""
  rows = []
  for variant in VARIANTS:
    for image_size in IMAGE_SIZES:
      autoencoder = build_autoencoder(variant, image_size, latent_dim)
      variables = _abstract_variables(autoencoder)
      rows.append(dict(
          variant=variant,
          image_size=image_size,
          encoder=count_params(variables["params"]["encoder"]),
          decoder=count_params(variables["params"]["decoder"]),
          autoencoder=count_params(variables),
          discriminator=count_params(_abstract_variables(build_discriminator(autoencoder, n_classes))),
          classifier=count_params(_abstract_variables(build_classifier(autoencoder))),
      ))
  return rows


def parameter_table(latent_dim: int = DEFAULT_LATENT_DIM, n_classes: int = 2) -> str:
  """The counts of `parameter_counts` as a markdown table."""
  columns = ("variant", "image_size", "encoder", "decoder", "autoencoder", "discriminator", "classifier")
  header = ("variant", "input", "encoder", "decoder = G", "autoencoder", f"D ({n_classes}+1 classes)", "C (2 classes)")
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  for row in parameter_counts(latent_dim, n_classes):
    cells = [str(row["variant"]), f"{row['image_size']}x{row['image_size']}"] + [f"{row[c]:,}" for c in columns[2:]]
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines) + f"\n\nTrainable parameters, latent size d_z = {latent_dim}; batch statistics not counted."


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--latent-dim", type=int, default=DEFAULT_LATENT_DIM)
  parser.add_argument("--n-classes", type=int, default=2)
  args = parser.parse_args()
  print(parameter_table(args.latent_dim, args.n_classes))


if __name__ == "__main__":
  main()
