"""What a pip user runs, against hifi_nb installed from the wheel (run by tools/wheel_check.sh from a folder
outside the checkout, in a fresh virtual environment without extras):
  1. the README's "Use the API" example, taken from README.md as it stands;
  2. `prepare` for every registered tuning method on a tiny random-init model, then one training step;
  3. `hifi-nb reproduce --profile smoke --limit 1` with the default executor, records in a temp folder.
Usage: python wheel_check.py README.md OUT_DIR"""
import json, re, subprocess, sys, time
from pathlib import Path

readme, out = Path(sys.argv[1]), Path(sys.argv[2])
t0 = time.time()
def say(msg): print(f"wheel-check.py [{time.time() - t0:.0f}s] {msg}", flush=True)

import hifi_nb
where = Path(hifi_nb.__file__).resolve()
if "site-packages" not in where.parts:
    sys.exit(f"FAIL: hifi_nb was imported from {where}, not from the installed wheel")
say(f"hifi_nb {hifi_nb.__version__} from {where.parent}")

# 1. the README's API example
section = readme.read_text(encoding="utf-8").split("## Use the API", 1)[1]
example = re.search(r"```python\n(.*?)```", section, re.S).group(1)
exec(compile(example, f"{readme}#use-the-api", "exec"), {"__name__": "__readme__"})
say("README API example: ok")

# 2. prepare(...) for every registered method on a tiny random-init model, then one AdamW step
from hifi_nb.models import load_model, tiny_config
from hifi_nb.tuning import METHODS, prepare, random_batches, train_steps, trainable_report
for name, method in METHODS.items():
    model, _ = load_model("minilm-l6", "rte", config=tiny_config(), seed=0)
    kw = {"batches": random_batches(model)} if method.needs_batches else {}   # hifi, sam: data to select on
    model = prepare(model, name, **kw)
    rep = trainable_report(model)
    if rep["backbone_trainable"] <= 0: sys.exit(f"FAIL: prepare(model, {name!r}) left nothing of the backbone trainable")
    loss = train_steps(model, random_batches(model), steps=1)[0]
    say(f"prepare {name:13s} ok: {rep['backbone_trainable']:>9,} backbone parameters trainable, loss {loss:.3f}")
say(f"prepare: all {len(METHODS)} registered methods ok ({', '.join(METHODS)})")

# 3. the CLI's default path
cli = Path(sys.executable).parent / "hifi-nb"
cmd = [str(cli), "reproduce", "--profile", "smoke", "--limit", "1", "--out", str(out)]
say("$ " + " ".join(cmd))
p = subprocess.run(cmd, capture_output=True, text=True)
print(p.stdout + p.stderr, flush=True)
if p.returncode: sys.exit(f"FAIL: hifi-nb reproduce exited with {p.returncode}")
records = sorted((out / "smoke").glob("*.json"))
if len(records) != 1: sys.exit(f"FAIL: expected one record in {out / 'smoke'}, found {[r.name for r in records]}")
rec = json.loads(records[0].read_text())
if rec.get("status") != "ok": sys.exit(f"FAIL: {records[0].name}: status {rec.get('status')}: {rec.get('error')}")
if "executor papermill" not in p.stderr or not records[0].with_suffix(".ipynb").exists():
    sys.exit("FAIL: the default executor was not papermill (no executed notebook beside the record)")
say(f"hifi-nb reproduce (papermill): {records[0].name} ok, {rec['split']} main = {rec['main']:.4f}")
say("all ok")
