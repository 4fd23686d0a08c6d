"""Parameter counts against counts worked out by hand from METHOD.md §2."""

from gancbam_jax.models import count_params, parameter_counts, parameter_table

from model_testing import LATENT_DIM, autoencoder_setup

D_Z = 100
CONVS = 16 * (1 * 32 + 32 * 64 + 64 * 128 + 128 * 128 + 128 * 128)  # B1..B5, 4x4, no bias
BATCH_NORMS = 2 * (32 + 64 + 128 + 128 + 128)  # scale and shift
UPSAMPLINGS = 16 * (128 * 128 + 128 * 128 + 128 * 64 + 64 * 32) + 2 * (128 + 128 + 64 + 32)  # D1..D4 with BN
SIZE_64_SAVING = 7 * 32  # at 64x64 B1 and D5 are 3x3 (9 taps) instead of 4x4 (16 taps), 32 channels


def encoder_128(d_z: int) -> int:
  return CONVS + BATCH_NORMS + (2048 * 512 + 512) + (512 * d_z + d_z)


def decoder_128(d_z: int) -> int:
  return (d_z * 512 + 512) + (512 * 2048 + 2048) + UPSAMPLINGS + (16 * 32 + 1)


ENCODER_128, DECODER_128 = encoder_128(D_Z), decoder_128(D_Z)
# The attention gate adds Dense(2048 -> 128), the 1x1 projection 64 -> 128, two 1x1 compatibility
# convs to one channel, and FC1 rows for the 256 pooled values.
GATE = (2048 * 128 + 128) + (64 * 128 + 128) + 2 * (128 + 1) + 256 * 512
# CBAM: MLP C -> max(C // 8, 4) -> C with biases, 7x7x2 spatial kernel, after B2 (64) and B5 (128).
CBAM = sum(c * (c // 8) + c // 8 + (c // 8) * c + c + 7 * 7 * 2 for c in (64, 128))


def test_counts_match_hand_computation():
  rows = {(r["variant"], r["image_size"]): r for r in parameter_counts(D_Z, n_classes=2)}
  assert rows["baseline", 128]["encoder"] == ENCODER_128
  assert rows["baseline", 128]["decoder"] == DECODER_128
  assert rows["cbam", 128]["encoder"] == ENCODER_128 + CBAM
  assert rows["attention_gate", 128]["encoder"] == ENCODER_128 + GATE
  # 64x64: B1 is 3x3 instead of 4x4, D5 a 3x3 conv instead of a 4x4 upsampling.
  assert rows["baseline", 64]["encoder"] == ENCODER_128 - SIZE_64_SAVING
  assert rows["baseline", 64]["decoder"] == DECODER_128 - SIZE_64_SAVING
  for row in rows.values():
    assert row["autoencoder"] == row["encoder"] + row["decoder"]
    trunk = row["encoder"] - (512 * D_Z + D_Z)
    assert row["discriminator"] == trunk + 512 * 3 + 3
    assert row["classifier"] == trunk + 512 * 2 + 2


def test_count_params_of_concrete_variables_ignores_batch_statistics():
  _, variables = autoencoder_setup("baseline", 64)
  assert count_params(variables) == encoder_128(LATENT_DIM) + decoder_128(LATENT_DIM) - 2 * SIZE_64_SAVING


def test_table_has_a_row_per_variant_and_size():
  lines = parameter_table().splitlines()
  assert lines[0].startswith("| variant |")
  assert sum(line.startswith("| ") for line in lines[2:]) == 6
