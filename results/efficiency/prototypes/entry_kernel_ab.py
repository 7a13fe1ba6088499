import copy, statistics, sys, time, os
import torch
sys.path.insert(0, ".")
from hifi_nb.efficiency import cpu_clock, study_model, study_plan, task_batches
from hifi_nb.tuning import prepare
import hifi_nb.layers as L
torch.set_num_threads(1)
plan = study_plan(quick=False)
base, tok = study_model(plan)
res = {}
for bsz in (16, 32):
    batch = task_batches(tok, plan["task"], bsz, bsz, plan["max_length"], seed=plan["seed"] + 1, pad_to_max=True)[0]
    opts = {"full": {}, "bitfit": {}, "random_mask": dict(density=0.005, seed=0), "sam": dict(density=0.005, batches=[batch], n_batches=1)}
    models = {}
    for m in opts:
        torch.manual_seed(0); models[m] = prepare(copy.deepcopy(base), m, **opts[m])
    models["sam_old"] = models["sam"]; models["random_mask_old"] = models["random_mask"]
    optim = {m: torch.optim.AdamW([p for p in x.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.01) for m, x in models.items()}
    def step(m):
        L.use_entry_kernel(not m.endswith("_old"))
        x, o = models[m], optim[m]
        x.train(); o.zero_grad(set_to_none=True); x(**batch).loss.backward(); o.step()
    M = list(models)
    for m in M: step(m)
    cpu = {m: [] for m in M}
    for r in range(int(sys.argv[1]) if len(sys.argv) > 1 else 5):
        for m in M[r % len(M):] + M[:r % len(M)]:
            c = cpu_clock(); step(m); cpu[m].append(cpu_clock() - c)
    med = {m: statistics.median(v) for m, v in cpu.items()}
    print(bsz, {m: f"{v:.3f}s {v/med['full']:.3f}" for m, v in med.items()}, "load", os.getloadavg()[0], flush=True)
