"""`hifi_nb.train.run` on a tiny random model: protocols, best-epoch restore with peft, records, errors."""
import json
import os
from pathlib import Path

import pytest

from hifi_nb.train import RECORD_KEYS, run

ROOT = Path(__file__).resolve().parent.parent
GLUE = Path(os.environ.get("HIFI_GLUE_DIR") or ROOT.parent / "shared" / "glue")
needs_data = pytest.mark.skipif(not GLUE.is_dir(), reason="GLUE files not found (set HIFI_GLUE_DIR)")
TINY = dict(model="tiny-bert", max_train_samples=32, max_eval_samples=32, n_score_examples=16, batch_size=8,
            max_length=32, disable_tqdm=True, data_dir=str(GLUE))


@needs_data
def test_lora_glue_protocol_best_epoch():
    "peft model, GLUE protocol: reported split is validation, equal to the best epoch's validation score."
    rec = run("mrpc", "lora", seed=1, protocol="glue", epochs=3, lr=5e-3, **TINY)
    assert rec.status == "ok" and rec.split == "validation"
    evals = [h["eval_main"] for h in rec.history if "eval_main" in h]
    assert len(evals) == 3 and rec.main == pytest.approx(max(evals)) == pytest.approx(rec.val_metrics["main"])
    assert rec.metrics["main"] == rec.metrics["f1"]                       # MRPC reports F1
    assert 0 < rec.trainable_pct < 100 and rec.config["lr"] == 5e-3
    assert list(rec.to_dict()) == list(RECORD_KEYS)
    json.dumps(rec.to_dict())


@needs_data
def test_regression_sam_protocol_and_seeds():
    "STS-B (regression) under the SAM protocol; the same seed gives the same result."
    a = run("stsb", "bitfit", seed=3, epochs=1, **TINY)
    b = run("stsb", "bitfit", seed=3, epochs=1, **TINY)
    assert a.split == "test" and set(a.metrics) >= {"pearson", "spearman", "main"}
    assert a.main == pytest.approx(b.main) and a.val_metrics["main"] == pytest.approx(b.val_metrics["main"])


def test_bad_input():
    with pytest.raises(ValueError, match="valid methods"): run("rte", "prefix_tuning")
    with pytest.raises(ValueError, match="sam_batches must be a positive integer"): run("rte", "sam", sam_batches=0)
    with pytest.raises(ValueError, match="protocol"): run("rte", "full", protocol="superglue")
    with pytest.raises(KeyError, match="valid tasks"): run("glue", "full")
