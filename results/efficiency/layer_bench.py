"""Layer-level forward + backward timings (one 384x384 layer, T tokens, 1 thread, round-robin, medians): frozen
nn.Linear; HeadSliceLinear before (commit 29e543b) and now (3 heads of 32 rows); a LoRA r=8 layer; the SAM / random-mask
layer before (parametrize) and now (SparseEntryLinear), 0.5% of the entries.
Run from the repository root: python results/efficiency/layer_bench.py [T] [repeats] > results/efficiency/layers.json"""
import sys, statistics, time, json
import torch
from torch import nn
import subprocess
sys.path.insert(0, ".")
from hifi_nb import tuning as new
torch.set_num_threads(1)
src = subprocess.run(["git", "show", "29e543b:hifi_nb/tuning.py"], capture_output=True, text=True, check=True).stdout.replace("from .models", "from hifi_nb.models")
old = type(sys)("tuning_orig"); sys.modules["tuning_orig"] = old; exec(compile(src, "tuning_orig.py", "exec"), old.__dict__)
T, d, reps = int(sys.argv[1]) if len(sys.argv) > 1 else 4096, 384, int(sys.argv[2]) if len(sys.argv) > 2 else 15
torch.manual_seed(0)
base = nn.Linear(d, d).requires_grad_(False)
rows = torch.cat([torch.arange(h * 32, h * 32 + 32) for h in (1, 4, 9)])
x = torch.randn(T, d, requires_grad=True); g = torch.randn(T, d)
class Lora(nn.Module):
    def __init__(s, b, r=8):
        super().__init__(); s.base = b; s.A = nn.Linear(d, r, bias=False); s.B = nn.Linear(r, d, bias=False); nn.init.zeros_(s.B.weight)
    def forward(s, x): return s.base(x) + s.B(s.A(x))
idx = torch.randperm(d * d)[:int(0.005 * d * d)]
par = nn.Linear(d, d); par.weight.data.copy_(base.weight); par.bias.data.copy_(base.bias); par.requires_grad_(False)
old.attach_sparse_values(par, "weight", idx)
holder = nn.Module(); holder.l = nn.Linear(d, d); holder.l.load_state_dict(base.state_dict())
sp = new.attach_sparse_entries(holder, "l", {"weight": idx})
mods = {"frozen": base, "hifi_old": old.HeadSliceLinear(base, rows), "hifi_new": new.HeadSliceLinear(base, rows),
        "lora_r8": Lora(base), "sparse_parametrize": par, "sparse_entry": sp}
def run(m):
    x.grad = None
    for p in m.parameters(): p.grad = None
    m(x).backward(g)
res = {k: [] for k in mods}
for k, m in mods.items(): run(m)
for r in range(reps):
    ks = list(mods); ks = ks[r % len(ks):] + ks[:r % len(ks)]
    for k in ks:
        t = time.perf_counter(); run(mods[k]); res[k].append(time.perf_counter() - t)
med = {k: statistics.median(v) * 1e3 for k, v in res.items()}
print(json.dumps(dict(T=T, d=d, threads=1, reps=reps, median_ms={k: round(v, 3) for k, v in med.items()},
                      over_frozen={k: round(v / med["frozen"], 3) for k, v in med.items()}), indent=1))
