"""Where the time of one training step goes, per method (MiniLM-L6, RTE, batch 16, length 128 padded), with one
and with two torch threads: torch.profiler self-CPU time per operator (minimum over 3 profiled steps, after 1
warm-up), the step's CPU time and wall-clock median over 5 unprofiled steps, and the operators that differ most
from bitfit. Run from the repository root with the data variables set (HIFI_GLUE_DIR, HIFI_SAM_DIR):
    python results/efficiency/profile_steps.py [batch] > results/efficiency/profile.md"""
import copy, json, os, statistics, sys, time
import torch
from torch.profiler import profile, ProfilerActivity
sys.path.insert(0, ".")
from hifi_nb.efficiency import cpu_clock, study_model, study_plan, task_batches
from hifi_nb.tuning import prepare

bsz = int(sys.argv[1]) if len(sys.argv) > 1 else 16
METHODS = ["full", "bitfit", "lora", "hifi", "sam", "random_mask"]
plan = study_plan(quick=False)
base, tok = study_model(plan)
batch = task_batches(tok, plan["task"], bsz, bsz, plan["max_length"], seed=plan["seed"] + 1, pad_to_max=True)[0]
scores_heads = None
opts = {"full": {}, "bitfit": {}, "lora": {}, "hifi": dict(batches=[batch], k=3), "random_mask": dict(density=0.005, seed=0),
        "sam": dict(density=0.005, batches=[batch], n_batches=1)}
models = {}
for m in METHODS:
    torch.manual_seed(0); models[m] = prepare(copy.deepcopy(base), m, **opts[m])
optim = {m: torch.optim.AdamW([p for p in x.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.01) for m, x in models.items()}
def step(m):
    x, o = models[m], optim[m]
    x.train(); o.zero_grad(set_to_none=True); x(**batch).loss.backward(); o.step()

print(f"# Where a training step's time goes (minilm-l6, rte, batch {bsz}, length {plan['max_length']} padded)\n")
print(f"Produced by `python results/efficiency/profile_steps.py {bsz}` at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, "
      f"torch {torch.__version__}, load average {[round(v, 2) for v in os.getloadavg()]}. Per method: the median CPU and "
      f"wall-clock seconds of 5 unprofiled steps (round-robin), then torch.profiler's self-CPU milliseconds per operator "
      f"(minimum over 3 profiled steps). `other` = the step's CPU time minus the operators' total (Python, autograd "
      f"bookkeeping, memory management).\n")
out = {}
for threads in (1, 2):
    torch.set_num_threads(threads)
    for m in METHODS: step(m)
    cpu, wall = {m: [] for m in METHODS}, {m: [] for m in METHODS}
    for r in range(5):
        for m in METHODS[r % len(METHODS):] + METHODS[:r % len(METHODS)]:
            c, w = cpu_clock(), time.perf_counter(); step(m)
            cpu[m].append(cpu_clock() - c); wall[m].append(time.perf_counter() - w)
    ops = {}
    for r in range(3):
        for m in METHODS:
            with profile(activities=[ProfilerActivity.CPU]) as p: step(m)
            ev = {e.key: e.self_cpu_time_total / 1e3 for e in p.key_averages()}
            ops[m] = ev if m not in ops else {k: min(ops[m].get(k, 1e12), ev.get(k, 1e12)) for k in set(ev) | set(ops[m])}
    for m in METHODS: ops[m] = {k: v for k, v in ops[m].items() if v < 1e11}
    med = {m: (statistics.median(cpu[m]), statistics.median(wall[m])) for m in METHODS}
    print(f"## {threads} thread(s)\n")
    print("| method | cpu_s | wall_s | cpu / full | cpu / bitfit | cpu / lora | profiled ops ms | other ms |\n|---|---|---|---|---|---|---|---|")
    for m in METHODS:
        tot = sum(ops[m].values())
        print(f"| {m} | {med[m][0]:.3f} | {med[m][1]:.3f} | {med[m][0] / med['full'][0]:.3f} | {med[m][0] / med['bitfit'][0]:.3f} | "
              f"{med[m][0] / med['lora'][0]:.3f} | {tot:.0f} | {1e3 * med[m][0] - tot:.0f} |")
    keys = sorted(set().union(*ops.values()), key=lambda k: -max(v.get(k, 0) for v in ops.values()))[:22]
    print("\nSelf-CPU ms per operator (the 22 largest):\n")
    print("| operator | " + " | ".join(METHODS) + " |\n|---|" + "---|" * len(METHODS))
    for k in keys: print(f"| `{k[:48]}` | " + " | ".join(f"{ops[m].get(k, 0):.1f}" for m in METHODS) + " |")
    print("\nLargest differences to bitfit (ms, + = more than bitfit):\n")
    for m in ("sam", "hifi", "lora"):
        d = sorted(((ops[m].get(k, 0) - ops["bitfit"].get(k, 0), k) for k in set(ops[m]) | set(ops["bitfit"])), key=lambda t: -abs(t[0]))[:8]
        print(f"- {m}: " + ", ".join(f"`{k[:40]}` {v:+.1f}" for v, k in d))
    print()
    out[threads] = dict(cpu=cpu, wall=wall, ops=ops)
json.dump(out, open("results/efficiency/profile.json", "w"), indent=1)
