"""Head scoring against the plain forward pass on MiniLM-L6 (256 RTE training examples, batch 32, max length 128,
CPU), through `hifi_nb.heads.time_scoring`: the pooled-only statistics (the default) next to the same call with
both correlation estimators (`all_correlations=True`, what every call computed before the pooled-only path), the
full forward without early exit and the float32 spectrum, interleaved in one process. Run from the repository
root with the data variables set (HIFI_GLUE_DIR, HIFI_SAM_DIR):
    python results/efficiency/scoring_quick.py [repeats] [threads]   -> results/efficiency/scoring_quick.json"""
import json, os, platform, sys, time
import torch
sys.path.insert(0, ".")
from hifi_nb.efficiency import study_model, task_batches
from hifi_nb.heads import time_scoring

repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
threads = int(sys.argv[2]) if len(sys.argv) > 2 else torch.get_num_threads()
torch.set_num_threads(threads)
t0 = time.perf_counter()
model, tok = study_model("minilm-l6", "rte")
batches = task_batches(tok, "rte", 256, 32, 128, seed=0)
load_before = list(os.getloadavg())
out = time_scoring(model, batches, repeats=repeats)
out.update(model="minilm-l6", task="rte", split="train", batch_size=32, max_length=128, device="cpu",
           command=f"python results/efficiency/scoring_quick.py {repeats} {threads}", torch=torch.__version__,
           machine=f"{platform.machine()}, {os.cpu_count()} cores", load_before=load_before,
           load_after=list(os.getloadavg()), wall_seconds=time.perf_counter() - t0,
           time_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           notes="ratio.stats: score_heads' statistics as used (pooled correlation only, early exit after the last "
                 "attention block); ratio.stats_all_correlations: the same with the per-example RVs as well (every "
                 "call before the pooled-only path); PageRank adds ~1 ms.")
with open("results/efficiency/scoring_quick.json", "w") as f: json.dump(out, f, indent=1)
print(json.dumps({k: out[k] for k in ("seconds", "ratio", "breakdown_last_run")}, indent=1))
