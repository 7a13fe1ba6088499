"""How many seeds the cpu study needs: per-task standard deviations of the paired differences behind the four
main claims, from the retired v0.1 cpu records (git history, commit b543d76^: 5 tasks x 3 seeds), and the 95 %
half-width they imply for n seeds, per task and for the task-averaged claim (mean of per-task means).
CB / COPA / WSC had no v0.1 runs: their sd is taken as the largest measured one (an assumption, stated).
Usage: python tools/seed_power.py [out.md]  (default results/study/seed_power.md)"""
import json, subprocess, sys
from collections import defaultdict
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REV = "b543d76^"
CLAIMS = [("hifi", "random_heads"), ("hifi", "full"), ("sam", "full"), ("sam", "random_mask")]
TASKS = ("cola", "stsb", "mrpc", "rte", "cb", "copa", "wsc", "sst2")

def records():
    names = subprocess.run(["git", "ls-tree", "-r", "--name-only", REV, "results/runs/cpu/"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    out = defaultdict(dict)
    for n in names:
        if not n.endswith(".json") or n.count("/") != 3: continue      # not stale/ or broken/ copies
        d = json.loads(subprocess.run(["git", "show", f"{REV}:{n}"], cwd=ROOT, capture_output=True, text=True, check=True).stdout)
        if d.get("status") == "ok" and d.get("group") == "main" and d.get("main") is not None:
            out[(d["task"], d["method"])][d["seed"]] = 100 * d["main"]
    return out

def main(path):
    R = records()
    lines = ["# Seeds for the cpu study: what the v0.1 records say", "",
             f"Paired differences (points) per task from the retired v0.1 cpu records (`git show {REV}`), 3 seeds each; "
             "CB / COPA / WSC (not in v0.1) assumed at the largest measured sd. Half-width = 1.96 · sd / √n per task; "
             "for the task average (mean of the 8 per-task means) 1.96 · √(Σ sd²) / 8 / √n.", "",
             "| claim | " + " | ".join(TASKS) + " | avg half-width n=5 | n=10 | seeds for avg ≤ 1.0 |",
             "|---|" + "---|" * len(TASKS) + "---|---|---|"]
    for a, b in CLAIMS:
        sd = {}
        for t in TASKS:
            x, y = R.get((t, a), {}), R.get((t, b), {})
            s = sorted(set(x) & set(y))
            if len(s) >= 2: sd[t] = float(np.std([x[i] - y[i] for i in s], ddof=1))
        worst = max(sd.values())
        full = {t: sd.get(t, worst) for t in TASKS}
        agg = np.sqrt(sum(v ** 2 for v in full.values())) / len(TASKS)
        hw = lambda n: 1.96 * agg / np.sqrt(n)
        need = int(np.ceil((1.96 * agg / 1.0) ** 2))
        cells = " | ".join(f"{full[t]:.1f}" + ("" if t in sd else "*") for t in TASKS)
        lines.append(f"| {a} − {b} | {cells} | {hw(5):.2f} | {hw(10):.2f} | {need} |")
    lines += ["", "\\* assumed (no v0.1 record). Per-task half-widths at n = 5 are 1.96 · sd / √5 ≈ 0.88 · sd: "
              "≤ 1 point only where sd ≤ 1.1 (SST-2, STS-B).", ""]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(lines))
    print("\n".join(lines))

if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ROOT / "results" / "study" / "seed_power.md")
