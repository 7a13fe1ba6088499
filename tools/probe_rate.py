"""One cpu-profile run (its task, method, seed and budget) at another learning rate: does the swept rate explain
a result? Writes the record to results/study/probes/<task>__<method>_lr<lr>__<seed>.json (group `probe`; the
report does not read it). Run from the repository root with the data variables set:
    python tools/probe_rate.py cola bitfit 1e-3 [seed]"""
import sys
from pathlib import Path
import torch
sys.path.insert(0, ".")
from hifi_nb.profiles import profile_runs
from hifi_nb.train import run, save_record

task, method, lr = sys.argv[1], sys.argv[2], float(sys.argv[3])
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
torch.set_num_threads(1)                       # beside a running grid
spec = next(s for s in profile_runs("cpu") if (s.task, s.method, s.seed, s.group) == (task, method, seed, "main"))
rec = run(**(spec.kwargs() | dict(lr=lr, name=f"{method}_lr{lr:g}", group="probe")))
out = Path("results/study/probes"); out.mkdir(parents=True, exist_ok=True)
save_record(rec, out / f"{task}__{method}_lr{lr:g}__{seed}.json")
print(f"{task} {method} lr {lr:g} seed {seed}: {rec.status}, test {rec.main}, val {rec.val_metrics.get('main')}, "
      f"one class: {bool(rec.extra.get('collapsed'))}")
