"""tools/gpu_sweep.py: the GPU sweep re-does the cpu profile's runs without `datasets`; these tests hold it to the
same data, selection samples and model as `hifi_nb.train.run`, and run one job end to end on the CPU."""
import json
import math
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import gpu_sweep as G  # noqa: E402

from hifi_nb.data import load_task, make_batches  # noqa: E402
from hifi_nb.models import load_model  # noqa: E402
from hifi_nb.train import _cycled  # noqa: E402


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_sweep") / "bundle"
    G.build(out, tasks=("cola",), seeds=(1,))
    return out


def _same_batches(a, b):
    return len(a) == len(b) and all(torch.equal(x[k], y[k]) for x, y in zip(a, b)
                                    for k in ("input_ids", "attention_mask", "token_type_ids", "labels"))


def test_selection_samples_are_the_runs_own(bundle):
    "HiFi's 256 scoring examples and SAM's 200 x 16 gradient examples: the very batches run() makes for the seed."
    d = G.load_task_data(bundle, "cola")
    dd = load_task("cola", None, protocol="sam", seed=0)
    _, tok = load_model("minilm-l6", "cola")
    ref = make_batches(dd["train"], tok, "cola", batch_size=16, max_length=128, n_examples=256, seed=1)
    assert _same_batches(ref, G.batches_of(d["splits"]["train"], d["selection"][1]["score"], 16))
    ref = make_batches(_cycled(dd["train"], 200 * 16, 1), tok, "cola", batch_size=16, max_length=128)
    assert _same_batches(ref, G.batches_of(d["splits"]["train"], d["selection"][1]["sam"], 16))
    assert not _same_batches(ref[:1], G.batches_of(d["splits"]["train"], range(16), 16))   # the check can fail
    for s in ("train", "validation", "test"):
        assert len(d["splits"][s]["labels"]) == len(dd[s])


def test_bundled_model_is_minilm(bundle):
    "float16 storage, full-size word embedding: hidden states within float16 rounding of MiniLM's."
    cfg, sd = G.load_base(bundle)
    d = G.load_task_data(bundle, "cola")
    model = G.build_model(cfg, sd, d, 0, torch.device("cpu")).eval()
    ref, _ = load_model("minilm-l6", "cola")
    ref.eval()
    assert model.bert.embeddings.word_embeddings.weight.shape == ref.bert.embeddings.word_embeddings.weight.shape
    b = G.collate(d["splits"]["validation"], range(8), labels=False)
    with torch.no_grad():
        a, r = model.bert(**b).last_hidden_state, ref.bert(**b).last_hidden_state
    m = b["attention_mask"].bool()
    rel = ((a - r)[m].norm(dim=-1) / r[m].norm(dim=-1)).max()
    assert rel < 5e-3, rel
    used = torch.zeros(cfg["vocab_size"], dtype=torch.bool)              # the bundle holds CoLA only here
    used[torch.cat([d["splits"][s]["ids"].long() for s in ("train", "validation", "test")])] = True
    used[0] = True
    w, w0 = model.bert.embeddings.word_embeddings.weight, ref.bert.embeddings.word_embeddings.weight
    assert torch.equal(w[~used], torch.zeros_like(w[~used]))              # never read: zero, same tensor size
    torch.testing.assert_close(w[used], w0[used], rtol=1e-3, atol=1e-4)


def test_one_job_end_to_end_and_collect(bundle, tmp_path):
    "A short HiFi job on the CPU: the run() recipe's step count and warm-up, per-epoch predictions, scored here."
    meta = json.loads((bundle / "manifest.json").read_text())
    cfg, sd = G.load_base(bundle)
    d = G.load_task_data(bundle, "cola")
    job = dict(task="cola", method="hifi", lr=5e-4, seed=1)
    rec = G.train_job(job, d, cfg, sd, torch.device("cpu"), meta, max_train=40, epochs=2)
    assert rec["status"] == "ok" and rec["steps"] == 2 * math.ceil(40 / 16) and rec["warmup"] == math.ceil(0.06 * 6)
    assert len(rec["history"]) == 2 and len(rec["history"][0]["val"]) == len(d["splits"]["validation"]["labels"])
    assert len(rec["extra"]["heads"]) == 6 * 3                        # k = 3 heads in each of MiniLM's 6 layers
    src = tmp_path / "runs"; src.mkdir()
    (src / f"{rec['id']}.json").write_text(json.dumps(rec))
    s = G.collect(src, bundle, tmp_path / "out")
    row = s["runs"][0]
    assert row["status"] == "ok" and row["best_epoch"] in (rec["history"][0]["epoch"], rec["history"][1]["epoch"])
    assert -1 <= row["val"] <= 1 and (tmp_path / "out" / "summary.md").exists()


def test_jobs_order_and_grid():
    "Seed-major, methods by priority, each method's rates nearest its centre first; HiFi's range reaches 1e-4."
    grid = G.sweep_grid()
    assert min(grid["hifi"]) == 1e-4 and set(G.PRIORITY) == set(grid)
    js = G.jobs(grid, {"sam": 1e-3}, tasks=("cola", "stsb"), seeds=(0, 1))
    assert [j["seed"] for j in js] == sorted(j["seed"] for j in js)
    first = [j for j in js if j["seed"] == 0]
    assert first[0]["method"] == "hifi" and first[0]["lr"] == 5e-4
    sam = [j["lr"] for j in first if j["method"] == "sam"][::2]
    assert sam[0] == 1e-3 and sorted(sam) == sorted(grid["sam"])
    assert len(js) == 2 * 2 * sum(len(v) for v in grid.values())


def test_a_job_past_the_budget_is_stopped_and_the_archive_still_written(bundle, tmp_path):
    "A worker still training `grace` seconds after the budget is stopped; the sweep ends and packs what it has."
    import tarfile
    import time
    (tmp_path / "done").mkdir()
    t0 = time.time()
    G.run_sweep(tmp_path / "runs", bundle, workers=1, budget_s=20, seeds=(1,), tasks=("cola",),
                dry=dict(max_train=None, epochs=50), methods=("bitfit",), max_rates=1, tar=str(tmp_path / "s.tgz"),
                grace=2)
    assert time.time() - t0 < 60                        # 50 epochs of CoLA would take far longer on this CPU
    assert list((tmp_path / "runs").glob("*.json")) == []
    with tarfile.open(tmp_path / "s.tgz") as tf: assert tf.getnames() == []
