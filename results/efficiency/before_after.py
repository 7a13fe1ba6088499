"""The training step of sam, random_mask and hifi with the layers of commit 1c84af5 (before issue 16's rework) and with
the current ones, next to full / bitfit / lora, all in one process, round-robin (MiniLM-L6, RTE, length 128 padded,
1 thread, CPU-time medians). Run from the repository root with the data variables set:
    python results/efficiency/before_after.py [repeats] > results/efficiency/before_after.json"""
import copy, json, os, statistics, subprocess, sys, time
import torch
sys.path.insert(0, ".")
from hifi_nb import tuning
from hifi_nb.efficiency import cpu_clock, study_model, study_plan, task_batches
torch.set_num_threads(1)
src = subprocess.run(["git", "show", "1c84af5:hifi_nb/layers.py"], capture_output=True, text=True, check=True).stdout
old = type(sys)("layers_before"); sys.modules["layers_before"] = old; exec(compile(src, "layers_before.py", "exec"), old.__dict__)
reps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
plan = study_plan(quick=False)
base, tok = study_model(plan)
out = dict(commit_before="1c84af5", threads=1, repeats=reps, time_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           load_before=os.getloadavg(), rows=[])
for bsz in (16, 32):
    batch = task_batches(tok, plan["task"], bsz, bsz, plan["max_length"], seed=plan["seed"] + 1, pad_to_max=True)[0]
    opts = {"full": {}, "bitfit": {}, "lora": {}, "hifi": dict(batches=[batch], k=3), "sam": dict(density=0.005, batches=[batch], n_batches=1),
            "random_mask": dict(density=0.005, seed=0)}
    models = {}
    for name in ("full", "bitfit", "lora", "hifi", "sam", "random_mask", "hifi_before", "sam_before", "random_mask_before"):
        m = name.replace("_before", "")
        saved = (tuning.attach_sparse_entries, tuning.HeadSliceLinear)
        if name.endswith("_before"): tuning.attach_sparse_entries, tuning.HeadSliceLinear = old.attach_sparse_entries, old.HeadSliceLinear
        try:
            torch.manual_seed(0); models[name] = tuning.prepare(copy.deepcopy(base), m, **opts[m])
        finally: tuning.attach_sparse_entries, tuning.HeadSliceLinear = saved
    opt = {k: torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.01) for k, m in models.items()}
    def step(k):
        m, o = models[k], opt[k]; m.train(); o.zero_grad(set_to_none=True); m(**batch).loss.backward(); o.step()
    names = list(models)
    for k in names: step(k)
    t = {k: [] for k in names}
    for r in range(reps):
        for k in names[r % len(names):] + names[:r % len(names)]:
            c = cpu_clock(); step(k); t[k].append(cpu_clock() - c)
    med = {k: statistics.median(v) for k, v in t.items()}
    for k in names:
        out["rows"].append(dict(method=k, batch_size=bsz, cpu_s=med[k], over_full=med[k] / med["full"], over_bitfit=med[k] / med["bitfit"],
                                over_lora=med[k] / med["lora"], cpu_times=t[k]))
    del models, opt
out["load_after"] = os.getloadavg()
print(json.dumps(out, indent=1))
