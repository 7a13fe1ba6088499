"""One cpu-profile run (its task, method, seed and rate) with another epoch budget: would a longer budget change a
method's row? The budgets follow full fine-tuning's learning curves; the report's budget-fit table shows sparse
methods still gaining in CoLA's last epoch. Writes results/study/probes/<task>__<method>_ep<epochs>__<seed>.json
(group `probe`; the report does not read it). Run from the repository root with the data variables set:
    python tools/probe_budget.py cola sam 8 [seed]"""
import sys
from pathlib import Path
import torch
sys.path.insert(0, ".")
from hifi_nb.profiles import profile_runs
from hifi_nb.train import run, save_record

task, method, epochs = sys.argv[1], sys.argv[2], float(sys.argv[3])
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
torch.set_num_threads(1)                       # beside a running grid
spec = next(s for s in profile_runs("cpu") if (s.task, s.method, s.seed, s.group) == (task, method, seed, "main"))
name = f"{method}_ep{epochs:g}"
rec = run(**(spec.kwargs() | dict(epochs=epochs, name=name, group="probe")))
out = Path("results/study/probes"); out.mkdir(parents=True, exist_ok=True)
save_record(rec, out / f"{task}__{name}__{seed}.json")
curve = [round(h["eval_main"], 3) for h in rec.history if "eval_main" in h]
print(f"{task} {method} seed {seed}, {epochs:g} epochs: {rec.status}, test {rec.main}, val by epoch {curve}, "
      f"best epoch {rec.best_epoch}, {rec.seconds / 60:.1f} min")
