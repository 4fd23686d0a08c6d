"""The Markdown report: labels stated, proxies warned of, Table I's F1 recomputed, folds as ± std, optional keys."""

import copy

import pytest

from gancbam_jax.detect import report

METRICS = {"accuracy": 0.853, "precision": 0.875, "recall": 0.824, "f1": 0.848, "specificity": 0.882,
           "roc_auc": 0.91, "pr_auc": 0.89}


def single_split_results() -> dict:
  return {
      "method": "classifier",
      "method_description": "CBAM classifier trained on real + BAGAN-synthetic slices; score = softmax p(anomalous)",
      "dataset": "built-in synthetic CT (phantom: n=240, preset medium, seed 0)",
      "label_meaning": "anomalous = a lesion inserted by the phantom generator (ground truth)",
      "label_is_proxy": False,
      "device": "cpu (TFRT_CPU_0)",
      "evaluation": "single split",
      "splits": {"train": {"slices": 106, "classes": {"normal": 88, "anomalous": 18}},
                 "val": {"slices": 30, "classes": {"normal": 15, "anomalous": 15}},
                 "test": {"slices": 34, "classes": {"normal": 17, "anomalous": 17}}},
      "added_training_images": {"anomalous": {"synthetic": 70}},
      "n_test": 34, "prevalence": 0.5,
      "threshold": 0.43, "threshold_rule": "max_f1 on validation",
      **METRICS,
      "confusion_matrix": {"tn": 15, "fp": 2, "fn": 3, "tp": 14},
      "confidence_intervals": {name: [value - 0.1, min(value + 0.05, 1.0)] for name, value in METRICS.items()},
      "validation": {"accuracy": 0.9, "f1": 0.88, "roc_auc": 0.95},
      "selected_checkpoint": {"stage": "classifier", "step": 36, "criterion": "lowest validation loss"},
      "detection_ms_p50_batch1": 2.1, "detection_ms_p95_batch1": 3.4, "detection_ms_p50_batch64": 0.21,
      "detection_ms_p95_batch64": 0.25, "images_per_s_batch64": 4700.0,
      "generated": {"anomalous": {"diversity": 0.061, "real_diversity": 0.117, "nearest_real": 0.112,
                                  "nearest_real_min": 0.095, "real_nearest_real": 0.084}},
  }


def folds_results() -> dict:
  results = single_split_results()
  del results["confidence_intervals"]
  results["evaluation"] = "5-fold cross-validation"
  results["std"] = {name: 0.032 for name in METRICS}
  results["folds"] = [dict(METRICS) for _ in range(5)]
  return results


def section(text: str, heading: str) -> str:
  """The lines of one '## heading' section."""
  start = text.index(f"## {heading}")
  end = text.find("\n## ", start + 1)
  return text[start:end if end >= 0 else None]


def test_sections_come_in_order_and_the_file_matches_the_returned_text(tmp_path):
  path = tmp_path / "report.md"
  text = report.write_report(single_split_results(), path)
  assert path.read_text() == text
  assert text.startswith("# Anomaly detection: classifier on built-in synthetic CT")
  headings = ["## Data", "## Protocol", "## Results", "## Detection time", "## Generated images",
              "## The paper's Table I (reported; internally inconsistent)"]
  positions = [text.index(h) for h in headings]
  assert positions == sorted(positions)


def test_the_label_meaning_is_stated_and_a_proxy_is_warned_about(tmp_path):
  results = single_split_results()
  text = report.write_report(results, tmp_path / "report.md")
  data = section(text, "Data")
  assert results["label_meaning"] in data
  assert "proxy" not in data
  assert "| train | 106 | 88 | 18 |" in data and "50.0 % anomalous of 34 test slices" in data
  assert "training split only" in data and "never synthetic" in data
  results.update(label_is_proxy=True, label_meaning="anomalous = a radiology finding coded in the filename")
  data = section(report.write_report(results, tmp_path / "report.md"), "Data")
  assert "anomalous = a radiology finding coded in the filename" in data
  assert "**These labels are a proxy, not a diagnosis" in data and "say nothing about detecting disease" in data


def test_table_i_recomputes_f1_from_precision_and_recall(tmp_path):
  computed = [round(report.f1_from_precision_recall(row.precision, row.recall), 2) for row in report.PAPER_TABLE_I]
  assert computed == [92.05, 94.38, 92.77, 97.71]
  text = report.write_report(single_split_results(), tmp_path / "report.md")
  table = section(text, "The paper's Table I")
  for line in ["| GDA | 93.78 | 92.89 | 91.23 | 96.77 | 92.05 |", "| ATR-GAN | 98.11 | 93.78 | 94.99 | 97.89 | 94.38 |",
               "| ConvLSTM | 96.89 | 91.67 | 93.89 | 93.89 | 92.77 |",
               "| GAN-CBAM | 99.12 | 97.32 | 98.11 | 98.45 | 97.71 |"]:
    assert line in table
  assert "| this run (classifier; not comparable) | 85.3 | 87.5 | 82.4 | 84.8 | 84.9 |" in table
  assert "at least 113 test images" in table and "never as a target" in table


def test_the_papers_claims_that_the_report_states_hold():
  for row in report.PAPER_TABLE_I:
    assert not min(row.precision, row.recall) < row.f1_reported < max(row.precision, row.recall)
    assert row.precision != row.recall  # so a harmonic mean would lie strictly between them
  assert report.smallest_test_set(99.12) == 113
  assert report.smallest_test_set(50.0) == 2 and report.smallest_test_set(100.0) == 1


def test_single_split_results_show_confidence_intervals(tmp_path):
  results = section(report.write_report(single_split_results(), tmp_path / "report.md"), "Results")
  assert "| metric | test (%, 1 decimal) | 95% CI | validation |" in results
  assert "| accuracy | 85.3 | 75.3 to 90.3 | 90.0 |" in results
  assert "| precision | 87.5 | 77.5 to 92.5 | n/a |" in results
  assert "| actually anomalous | 3 | 14 |" in results
  assert "±" not in results


def test_folds_show_std_and_no_confidence_interval(tmp_path):
  text = report.write_report(folds_results(), tmp_path / "report.md")
  results = section(text, "Results")
  assert "± std over folds" in results and "| accuracy | 85.3 | ± 3.2 | 90.0 |" in results
  assert "CI" not in results
  assert "mean ± standard deviation over 5 folds" in section(text, "Protocol")
  assert "bootstrap" not in text


def test_detection_time_names_the_device(tmp_path):
  timing = section(report.write_report(single_split_results(), tmp_path / "report.md"), "Detection time")
  assert "cpu (TFRT_CPU_0)" in timing and "2.1 ms per image at batch 1 (p50, p95 3.4 ms)" in timing
  assert "4700 images/s at batch 64" in timing


@pytest.mark.parametrize("stats, reading", [
    ({"diversity": 0.061, "real_diversity": 0.117, "nearest_real_min": 0.095, "real_nearest_real": 0.084},
     "neither mode collapse nor memorisation is indicated"),
    ({"diversity": 0.02, "real_diversity": 0.117, "nearest_real_min": 0.095, "real_nearest_real": 0.084},
     "possible mode collapse"),
    ({"diversity": 0.1, "real_diversity": 0.117, "nearest_real_min": 0.01, "real_nearest_real": 0.084},
     "possible memorisation"),
])
def test_generated_images_are_read_from_the_numbers(tmp_path, stats, reading):
  results = single_split_results()
  results["generated"] = {"anomalous": stats}
  generated = section(report.write_report(results, tmp_path / "report.md"), "Generated images")
  assert reading in next(line for line in generated.splitlines() if line.startswith("- anomalous: "))
  assert "| anomalous |" in generated


def test_the_atr_gan_filter_and_oversampling_are_accounted_for(tmp_path):
  results = single_split_results()
  del results["generated"]
  results["synthetic_filter"] = {"candidates": 80, "kept": 31, "needed": 40, "nearest_real_band": [0.5, 2.25],
                                 "percentiles": [5.0, 95.0]}
  results["added_training_images"] = {"anomalous": {"repeated_real": 9}}
  text = report.write_report(results, tmp_path / "report.md")
  assert "kept 31 of 80 generated candidates (40 needed" in section(text, "Generated images")
  assert "0.5 to 2.25 away" in text and "5th to 95th percentiles" in text
  assert "Oversampling: 9 anomalous real training slices drawn again" in text and "Synthetic (generated)" not in text


def test_every_figure_is_embedded_as_an_image_link(tmp_path):
  figures = {"roc": "figures/roc.png", "precision-recall": "figures/pr.png", "attention": "figures/attention.png"}
  text = report.write_report(single_split_results(), tmp_path / "report.md", figures=figures)
  for name, path in figures.items():
    assert f"![{name}]({path})" in section(text, "Figures")


def test_missing_optional_keys_do_not_crash(tmp_path):
  minimal = {key: single_split_results()[key] for key in report.REQUIRED_KEYS}
  text = report.write_report(minimal, tmp_path / "report.md")
  assert minimal["label_meaning"] in text and "| GAN-CBAM | 99.12 |" in text
  assert "## Results" not in text and "| this run" not in text
  sparse = copy.deepcopy(single_split_results())
  for key in ("splits", "validation", "confusion_matrix", "device", "selected_checkpoint", "threshold", "precision",
              "detection_ms_p95_batch1", "images_per_s_batch64", "method_description"):
    del sparse[key]
  sparse["confidence_intervals"].pop("f1")
  sparse["generated"] = {"anomalous": {"diversity": 0.05}}
  sparse["added_training_images"] = {}
  text = report.write_report(sparse, tmp_path / "report.md")
  assert "| this run (classifier; not comparable) | 85.3 | n/a | 82.4 | 84.8 | n/a |" in text
  assert "No synthetic or repeated images" in text and "a device not recorded" in text


def test_results_without_a_label_meaning_are_refused(tmp_path):
  results = single_split_results()
  del results["label_meaning"]
  with pytest.raises(ValueError, match="label_meaning"):
    report.write_report(results, tmp_path / "report.md")


def _quality(auc: float, **over_draws) -> dict:
  entry = {"real": 20, "synthetic": 20, "c2st_roc_auc": auc, "frechet_distance": 0.031,
           "frechet_distance_real_halves": 0.006, **over_draws}
  return {"feature_space": "fixed random-init conv net", "all_classes": entry, "per_class": {}}


def test_training_checks_give_the_autoencoder_ratio_and_never_call_a_recognisable_sample_real(tmp_path):
  results = single_split_results()
  results["autoencoder"] = {"val_loss": 0.0069, "mean_image_val_loss": 0.0119, "val_mse_ratio": 0.58}
  results["generated_quality"] = _quality(0.97)
  checks = section(report.write_report(results, tmp_path / "report.md"), "Training checks")
  assert "validation MSE 0.0069 against 0.0119" in checks and "ratio of 0.58" in checks
  assert "PCA" not in checks  # a run written before the linear peer was reported
  results["pca_val_mse_ratio"] = 0.33
  checks = section(report.write_report(results, tmp_path / "report.md"), "Training checks")
  assert "PCA with as many axes as its latent, fitted on the same slices: 0.33." in checks
  assert "ROC-AUC 0.97, above 0.85: a classifier tells the generated slices from real ones" in checks
  assert "two halves of the real slices: 0.006" in checks
  assert "Per class" not in checks
  results["generated_quality"] = _quality(0.61, draws=5, c2st_roc_auc_sd=0.04)
  results["generated_quality"]["per_class"] = {
      "normal": {"real": 17, "synthetic": 17, "c2st_roc_auc": 0.97},
      "anomalous": {"real": 3, "synthetic": 3, "c2st_roc_auc": None}}
  checks = section(report.write_report(results, tmp_path / "report.md"), "Training checks")
  assert ("ROC-AUC 0.61 (sd 0.04 over 5 draws of generated slices), at or below 0.85: the classifier finds the "
          "generated slices hard to tell from real ones") in checks
  assert "Per class: normal 0.97 (17 real, 17 generated); anomalous none (3 real slices are too few)." in checks


def test_training_checks_over_folds_show_the_spread_and_are_absent_without_stages(tmp_path):
  results = folds_results()
  results.update(autoencoder_val_mse_ratio=0.61, c2st_roc_auc=0.99)
  results["std"].update(autoencoder_val_mse_ratio=0.04, c2st_roc_auc=0.01)
  checks = section(report.write_report(results, tmp_path / "report.md"), "Training checks")
  assert "0.61 ± 0.04 over folds" in checks and "ROC-AUC 0.99 ± 0.01 over folds (above 0.85" in checks
  assert "PCA" not in checks
  results.update(pca_val_mse_ratio=0.35)
  results["std"].update(pca_val_mse_ratio=0.03)
  checks = section(report.write_report(results, tmp_path / "report.md"), "Training checks")
  assert "fitted on the same slices: 0.35 ± 0.03 over folds" in checks
  assert "## Training checks" not in report.write_report(single_split_results(), tmp_path / "report.md")
