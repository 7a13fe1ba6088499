"""One cpu-profile run of a regression task (its task, method, seed, budget and rate) with the new head's bias
started at the training split's mean target instead of 0: is STS-B's slow start (the training loss held at the
targets' variance, ~2.2, for one to three epochs on some seeds) the head having to learn the targets' offset?
Writes results/study/probes/<task>__<method>_biasmean__<seed>.json (group `probe`; the report does not read it).
Run from the repository root with the data variables set:
    python tools/probe_head_init.py stsb lora 1"""
import sys
from pathlib import Path
import numpy as np
import torch
sys.path.insert(0, ".")
import hifi_nb.train as train
from hifi_nb.data import load_task
from hifi_nb.profiles import profile_runs

task, method = sys.argv[1], sys.argv[2]
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
torch.set_num_threads(1)                       # beside a running grid
spec = next(s for s in profile_runs("cpu") if (s.task, s.method, s.seed, s.group) == (task, method, seed, "main"))
kw = spec.kwargs()
mean = float(np.mean(load_task(task, kw.get("data_dir"), protocol=kw.get("protocol", "sam"), seed=kw.get("data_seed", 0))["train"]["label"]))

_build = train.build_model
def build_with_mean_bias(name, task_, seed=0):
    net, tok = _build(name, task_, seed=seed)
    head = net.classifier                      # BERT-style heads: a Linear with one output for regression
    assert head.out_features == 1, "a regression head has one output"
    with torch.no_grad(): head.bias.fill_(mean)
    return net, tok
train.build_model = build_with_mean_bias

rec = train.run(**(kw | dict(name=f"{method}_biasmean", group="probe")))
rec.extra["head_bias_init"] = mean
out = Path("results/study/probes"); out.mkdir(parents=True, exist_ok=True)
train.save_record(rec, out / f"{task}__{method}_biasmean__{seed}.json")
curve = [round(h["eval_main"], 3) for h in rec.history if "eval_main" in h]
print(f"{task} {method} seed {seed}, bias {mean:.3f}: {rec.status}, test {rec.main}, val by epoch {curve}")
