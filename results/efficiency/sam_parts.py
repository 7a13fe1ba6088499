"""Where SAM's training step costs more than BitFit's: SAM's model (MiniLM-L6, RTE, density 0.5 %, mask from one
batch) with one part's sparse entries frozen at a time (`no_emb`: the embeddings; `no_ln`: the LayerNorms;
`no_attn`: Q/K/V/O; `no_ffn`: the feed-forward pair), next to full fine-tuning and BitFit, timed round-robin in one
process (CPU seconds of one thread, median of 5 after a warm-up). Run from the repository root with the grid
paused and the data variables set:
    python results/efficiency/sam_parts.py 16 32   -> results/efficiency/sam_parts.json / .md"""
import copy, json, os, sys, time, statistics, torch, torch.nn as nn
from torch.nn.utils import parametrize
sys.path.insert(0, ".")
from hifi_nb.efficiency import study_model, study_plan, task_batches
from hifi_nb.tuning import prepare
from hifi_nb.layers import SparseEntryLinear, SparseEntryEmbedding
torch.set_num_threads(1)
plan = study_plan(quick=False)
base, tok = study_model(plan)
out = dict(command="python results/efficiency/sam_parts.py " + " ".join(sys.argv[1:]), torch=torch.__version__,
           load_before=list(os.getloadavg()), time_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), rows=[])
for bsz in [int(a) for a in sys.argv[1:]] or [16]:
    batch = task_batches(tok, plan["task"], bsz, bsz, plan["max_length"], seed=plan["seed"] + 1, pad_to_max=True)[0]
    sam = prepare(copy.deepcopy(base), "sam", density=0.005, batches=[batch], n_batches=1)
    def strip(model, pred):
        m = copy.deepcopy(model); n = 0
        for name, mod in list(m.named_modules()):
            if not name or not pred(name, mod): continue
            parent, _, attr = name.rpartition(".")
            P = m.get_submodule(parent) if parent else m
            if isinstance(mod, SparseEntryLinear):
                new = mod.merged(); new.requires_grad_(False); setattr(P, attr, new); n += 1
            elif isinstance(mod, SparseEntryEmbedding):
                new = mod.merged(); new.requires_grad_(False); setattr(P, attr, new); n += 1
            elif isinstance(mod, nn.LayerNorm) and parametrize.is_parametrized(mod):
                with torch.no_grad():
                    new = nn.LayerNorm(mod.normalized_shape, eps=mod.eps); new.weight.copy_(mod.weight); new.bias.copy_(mod.bias)
                new.requires_grad_(False); setattr(P, attr, new); n += 1
        # re-pair the FFN layout flags
        from hifi_nb.layers import _pair_feed_forward; _pair_feed_forward(m)
        return m, n
    models = {"full": prepare(copy.deepcopy(base), "full"), "bitfit": prepare(copy.deepcopy(base), "bitfit"), "sam": sam}
    for label, pred in {"no_emb": lambda n, m: isinstance(m, SparseEntryEmbedding) or ("embeddings" in n and parametrize.is_parametrized(m)),
                        "no_ln": lambda n, m: isinstance(m, nn.LayerNorm) and parametrize.is_parametrized(m),
                        "no_attn": lambda n, m: isinstance(m, SparseEntryLinear) and ".attention." in n,
                        "no_ffn": lambda n, m: isinstance(m, SparseEntryLinear) and (".intermediate." in n or n.endswith("output.dense") and ".attention." not in n)}.items():
        models[label], n = strip(sam, pred); print(label, "stripped", n)
    opt = {m: torch.optim.AdamW([p for p in x.parameters() if p.requires_grad], lr=1e-4) for m, x in models.items()}
    def step(m):
        x=models[m]; x.train(); opt[m].zero_grad(set_to_none=True); x(**batch).loss.backward(); opt[m].step()
    for m in models: step(m)
    t={m: [] for m in models}
    for r in range(5):
        for m in models:
            torch.manual_seed(r); c0=time.thread_time(); step(m); t[m].append(time.thread_time()-c0)
    med={m: statistics.median(v) for m,v in t.items()}
    row = dict(batch_size=bsz, seconds=med, over_full={m: v / med["full"] for m, v in med.items()})
    out["rows"].append(row); print(bsz, {m: round(v / med["full"], 3) for m, v in med.items()}, flush=True)
out["load_after"] = list(os.getloadavg())
with open("results/efficiency/sam_parts.json", "w") as f: json.dump(out, f, indent=1)
cols = ["full", "bitfit", "sam", "no_emb", "no_ln", "no_attn", "no_ffn"]
md = ["# SAM's step by part (step / full step; CPU time, 1 thread, median of 5)", "",
      f"`{out['command']}` at {out['time_utc']}, torch {out['torch']}, load before {[round(x, 2) for x in out['load_before']]}.", "",
      "| batch | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
for r in out["rows"]: md.append(f"| {r['batch_size']} | " + " | ".join(f"{r['over_full'][c]:.3f}" for c in cols) + " |")
md += ["", "What each part adds to SAM's step over BitFit = sam − no_<part> (the part's entries frozen, the rest as SAM).",
       "The parts need not add up to the total, and on this shared machine a ratio moves by about ±0.03 between",
       "runs (sam / full at batch 16: 0.812, 0.823, 0.830, 0.831 in four runs on 2026-11-27): read them as which",
       "parts matter, not as exact shares."]
for r in out["rows"]:
    o = r["over_full"]
    md.append(f"- batch {r['batch_size']}: over BitFit {o['sam'] - o['bitfit']:+.3f}; embeddings {o['sam'] - o['no_emb']:+.3f}, "
              f"LayerNorms {o['sam'] - o['no_ln']:+.3f}, attention {o['sam'] - o['no_attn']:+.3f}, feed-forward {o['sam'] - o['no_ffn']:+.3f}")
open("results/efficiency/sam_parts.md", "w").write("\n".join(md) + "\n")
