"""metrics.jsonl: one record per logged step; a resumed stage forgets what its killed run logged later."""

from gancbam_jax.train.metrics_log import MetricsLog, read_metrics


def test_records_are_appended_and_read_back(tmp_path):
  log = MetricsLog(tmp_path)
  log.write("autoencoder", 10, {"loss": 0.5})
  log.write("bagan", 10, {"d_loss": 1.0, "g_loss": 2.0})
  log.close()
  assert [(r["stage"], r["step"]) for r in read_metrics(tmp_path)] == [("autoencoder", 10), ("bagan", 10)]
  assert read_metrics(tmp_path, "bagan")[0]["g_loss"] == 2.0
  assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_forget_after_drops_later_steps_of_that_stage_and_cut_lines(tmp_path):
  log = MetricsLog(tmp_path)
  for step in (2, 4, 6):
    log.write("autoencoder", step, {"loss": step})
  log.write("bagan", 8, {"d_loss": 1.0})
  with log.path.open("a") as f:
    f.write('{"stage": "autoencoder", "st')  # a line cut short by a kill
  log.forget_after("autoencoder", 4)
  assert [(r["stage"], r["step"]) for r in read_metrics(tmp_path)] == [("autoencoder", 2), ("autoencoder", 4),
                                                                          ("bagan", 8)]


def test_a_disabled_log_writes_nothing(tmp_path):
  log = MetricsLog(tmp_path, enabled=False)  # every process but the chief of a multi-host job
  log.write("autoencoder", 1, {"loss": 0.1})
  log.close()
  assert list(tmp_path.iterdir()) == []
