"""Evaluation figures: each writes a readable PNG, stage losses get a panel per stage, bad input names its argument."""

import numpy as np
import pytest
from matplotlib import image as mpimg

from gancbam_jax.detect import figures

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def read_png(path) -> np.ndarray:
  """The PNG's pixels, after checking the file starts with the PNG signature."""
  with open(path, "rb") as f:
    assert f.read(8) == PNG_MAGIC
  pixels = mpimg.imread(path)
  assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100 and pixels.shape[2] in (3, 4)
  return pixels


def three_stage_records() -> list[dict]:
  records = []
  for step in (10, 20, 30):
    records.append({"stage": "autoencoder", "step": step, "loss": 1 / step, "val_loss": 1.1 / step, "steps_per_s": 9.})
  for step in (10, 20):
    records.append({"stage": "bagan", "step": step, "d_loss": 0.7, "g_loss": 0.9, "d_accuracy": 0.5,
                    "d_fake_fraction": 0.33, "steps_per_s": 4.0})
  for epoch in (1, 2, 3, 4):
    records.append({"stage": "classifier", "step": 9 * epoch, "epoch": epoch, "loss": 0.8 / epoch,
                    "accuracy": 0.5 + 0.1 * epoch, "val_loss": 0.9 / epoch, "val_accuracy": 0.45 + 0.1 * epoch})
  return records


def test_stage_losses_have_one_panel_per_stage(tmp_path):
  records = three_stage_records()
  fig = figures.stage_loss_figure(records)
  assert [ax.get_title(loc="left") for ax in fig.axes] == ["autoencoder", "bagan", "classifier"]
  labels = [line.get_label() for line in fig.axes[1].get_lines()]
  assert labels == ["d_loss", "g_loss"]  # accuracy, fake fraction and steps/s are not losses
  figures.plt.close(fig)
  read_png(figures.plot_stage_losses(records, tmp_path / "losses.png"))


def test_a_stage_without_losses_keeps_its_panel():
  records = three_stage_records() + [{"stage": "generate", "step": 1, "steps_per_s": 3.0}]
  fig = figures.stage_loss_figure(records)
  assert len(fig.axes) == 4
  figures.plt.close(fig)


@pytest.mark.parametrize("metric", ["accuracy", "loss"])
def test_epoch_curves_mark_the_selected_epoch(tmp_path, metric):
  path = figures.plot_epoch_curves(three_stage_records(), metric, tmp_path / f"{metric}.png", f"classifier {metric}",
                                   selected_epoch=3)
  read_png(path)


def test_curves_roc_pr_timing_bars_and_overlays_write_pngs(tmp_path):
  fpr, tpr = np.array([0, 0.1, 0.4, 1.0]), np.array([0, 0.6, 0.9, 1.0])
  read_png(figures.plot_roc({"classifier": (fpr, tpr, 0.87), "reconstruction": (fpr, fpr, 0.5)},
                            tmp_path / "roc.png", operating_point=(0.1, 0.6)))
  recall, precision = np.array([1.0, 0.8, 0.5, 0.0]), np.array([0.5, 0.7, 0.9, 1.0])
  read_png(figures.plot_precision_recall({"classifier": (recall, precision, 0.81)}, tmp_path / "pr.png", 0.5,
                                         operating_point=(0.8, 0.7)))
  timing = {"detection_ms_p50_batch1": 2.1, "detection_ms_p95_batch1": 3.0, "detection_ms_p50_batch64": 0.2,
            "detection_ms_p95_batch64": 0.25, "images_per_s_batch64": 5000.0, "device": "cpu (TFRT_CPU_0)"}
  read_png(figures.plot_detection_time(timing, tmp_path / "time.png"))
  metrics = {"accuracy": 0.9, "precision": 0.85, "recall": 0.8, "f1": 0.82, "specificity": 0.95, "roc_auc": 0.93,
             "pr_auc": 0.05}
  read_png(figures.plot_metric_bars(metrics, tmp_path / "ci.png", intervals={k: [v - 0.1, v + 0.05]
                                                                                for k, v in metrics.items()}))
  read_png(figures.plot_metric_bars({**metrics, "precision": float("nan")}, tmp_path / "std.png",
                                    errors={k: 0.03 for k in metrics}, title="5 folds"))
  rng = np.random.default_rng(0)
  for n in (1, 6):
    examples = [{"image": rng.uniform(size=(32, 32, 1)), "heatmap": rng.uniform(size=(4, 4)),
                 "caption": f"true positive, score 0.{90 + i}"} for i in range(n)]
    read_png(figures.plot_attention_overlays(examples, tmp_path / f"attention{n}.png", title="CBAM attention"))


@pytest.mark.parametrize("n, columns, rows", [(1, 1, 1), (4, 4, 1), (9, 4, 3), (16, 4, 4)])
def test_attention_overlays_use_at_most_four_columns(n, columns, rows):
  examples = [{"image": np.zeros((16, 16)), "heatmap": np.ones((2, 2)), "caption": str(i)} for i in range(n)]
  fig = figures.attention_overlay_figure(examples)
  shown = [ax for ax in fig.axes if ax.get_images()]
  assert len(shown) == n
  assert {ax.get_subplotspec().get_geometry()[:2] for ax in fig.axes} == {(rows, columns)}
  assert [ax.get_title() for ax in shown] == [str(i) for i in range(n)]
  figures.plt.close(fig)


@pytest.mark.parametrize("call, argument", [
    (lambda p: figures.plot_stage_losses([], p), "records"),
    (lambda p: figures.plot_stage_losses([{"step": 1, "loss": 1.0}], p), r"records\[0\]"),
    (lambda p: figures.plot_stage_losses([{"stage": "a", "step": 1, "steps_per_s": 1.0}], p), "records"),
    (lambda p: figures.plot_epoch_curves([{"stage": "classifier", "step": 1}], "accuracy", p, "t"), "records"),
    (lambda p: figures.plot_epoch_curves([{"stage": "classifier", "step": 1, "epoch": 1, "loss": 1.0}], "loss", p,
                                         "t", selected_epoch=5), "selected_epoch"),
    (lambda p: figures.plot_roc({}, p), "curves"),
    (lambda p: figures.plot_roc({"m": (np.zeros(3), np.zeros(2), 0.5)}, p), "curves"),
    (lambda p: figures.plot_roc({"m": (np.zeros(2), np.zeros(2), 0.5)}, p, operating_point=(2.0, 0.5)),
     "operating_point"),
    (lambda p: figures.plot_precision_recall({"m": (np.zeros(2), np.ones(2), 0.5)}, p, prevalence=1.5), "prevalence"),
    (lambda p: figures.plot_detection_time({"device": "cpu"}, p), "timing"),
    (lambda p: figures.plot_metric_bars({"loss": 0.1}, p), "metrics"),
    (lambda p: figures.plot_metric_bars({"f1": 0.5}, p, intervals={"f1": [0.4]}), "intervals"),
    (lambda p: figures.plot_metric_bars({"f1": 0.5}, p, intervals={}, errors={}), "intervals"),
    (lambda p: figures.plot_attention_overlays([], p), "examples"),
    (lambda p: figures.plot_attention_overlays([{"image": np.zeros((4, 4)), "caption": ""}], p), r"examples\[0\]"),
    (lambda p: figures.plot_attention_overlays([{"image": np.zeros((1, 2, 4, 4)), "heatmap": np.ones((2, 2)),
                                                 "caption": ""}], p), r"examples\[0\]\['image'\]"),
])
def test_malformed_input_raises_value_error_naming_the_argument(tmp_path, call, argument):
  with pytest.raises(ValueError, match=argument):
    call(tmp_path / "out.png")
  assert not (tmp_path / "out.png").exists()
