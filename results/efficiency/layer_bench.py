"""Layer-level forward + backward timings (T tokens, 1 thread, round-robin, medians of CPU time): a frozen 384x384
nn.Linear; HeadSliceLinear before (commit 1c84af5) and now (3 heads of 32 rows); a LoRA r=8 layer; the SAM /
random-mask layer before (1c84af5: the values' gradients gathered in blocks) and now (sampled dot products of
feature-major copies), 0.5% of the entries; and a feed-forward block (384 -> 1536 -> gelu -> 384, both layers
sparse) before and now (the first layer's output stored feature-major). Every layer's input needs a gradient.
Run from the repository root: python results/efficiency/layer_bench.py [T] [repeats] > results/efficiency/layers.json"""
import copy, json, statistics, subprocess, sys, time
import torch
from torch import nn
import torch.nn.functional as F
sys.path.insert(0, ".")
from hifi_nb import layers as new
torch.set_num_threads(1)
src = subprocess.run(["git", "show", "1c84af5:hifi_nb/layers.py"], capture_output=True, text=True, check=True).stdout
old = type(sys)("layers_before"); sys.modules["layers_before"] = old; exec(compile(src, "layers_before.py", "exec"), old.__dict__)
T, d, reps = int(sys.argv[1]) if len(sys.argv) > 1 else 4096, 384, int(sys.argv[2]) if len(sys.argv) > 2 else 15
torch.manual_seed(0)
base = nn.Linear(d, d).requires_grad_(False)
rows = torch.cat([torch.arange(h * 32, h * 32 + 32) for h in (1, 4, 9)])
class Lora(nn.Module):
    def __init__(s, b, r=8):
        super().__init__(); s.base = b; s.A = nn.Linear(d, r, bias=False); s.B = nn.Linear(r, d, bias=False); nn.init.zeros_(s.B.weight)
    def forward(s, x): return s.base(x) + s.B(s.A(x))
def sparse(mod, lib, name="l"):
    h = nn.Module(); setattr(h, name, copy.deepcopy(mod))
    n = getattr(h, name).weight.numel()
    return lib.attach_sparse_entries(h, name, {"weight": torch.randperm(n)[:int(0.005 * n)]})
class FFN(nn.Module):
    def __init__(s, lib):
        super().__init__()
        s.intermediate = nn.Module(); s.intermediate.dense = nn.Linear(d, 4 * d)
        s.output = nn.Module(); s.output.dense = nn.Linear(4 * d, d)
        for n in ("intermediate.dense", "output.dense"):
            m = s.get_submodule(n)
            lib.attach_sparse_entries(s, n, {"weight": torch.randperm(m.weight.numel())[:int(0.005 * m.weight.numel())]})
    def forward(s, x): return s.output.dense(F.gelu(s.intermediate.dense(x)))
ffn_plain = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d)).requires_grad_(False)
mods = {"frozen": base, "hifi_before": old.HeadSliceLinear(base, rows), "hifi_now": new.HeadSliceLinear(base, rows),
        "lora_r8": Lora(base), "sparse_before": sparse(base, old), "sparse_now": sparse(base, new),
        "ffn_frozen": ffn_plain, "ffn_sparse_before": FFN(old), "ffn_sparse_now": FFN(new)}
x = torch.randn(T, d, requires_grad=True); g = torch.randn(T, d)
def run(m):
    x.grad = None
    for p in m.parameters(): p.grad = None
    m(x).backward(g)
res = {k: [] for k in mods}
for k, m in mods.items(): run(m)
for r in range(reps):
    ks = list(mods); ks = ks[r % len(ks):] + ks[:r % len(ks)]
    for k in ks:
        t = time.thread_time(); run(mods[k]); res[k].append(time.thread_time() - t)
med = {k: statistics.median(v) * 1e3 for k, v in res.items()}
print(json.dumps(dict(T=T, d=d, threads=1, reps=reps, clock="thread CPU time", median_ms={k: round(v, 3) for k, v in med.items()},
                      over_frozen={k: round(v / med["ffn_frozen" if k.startswith("ffn") else "frozen"], 3) for k, v in med.items()}), indent=1))
