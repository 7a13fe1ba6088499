"""The cpu profile's learning-rate sweep at the *grid's* budget, run on a lent GPU machine.

    python tools/gpu_sweep.py bundle                  # here: gpu_sweep_bundle/ (MiniLM in float16, tokenized tasks)
    python tools/gpu_sweep.py run --out DIR           # on the GPU machine (its own torch / transformers, no datasets)
    python tools/gpu_sweep.py collect DIR             # here: scores, the rate each method would get, the agreement
                                                      # with the cpu grid's own records -> results/hparams/gpu_sweep_cpu/

On a lent GPU machine (one call, records packed into one archive; the jobs already brought back are skipped):

    PYTHONPATH=. python3 tools/gpu_sweep.py run --out /tmp/sw --workers 15 --budget 400 --seeds 0 \
        --done results/hparams/gpu_sweep_cpu/runs --tar $OUT/sweep.tgz        # carry gpu_sweep_bundle/ (39 MiB)

then here: unpack, copy the records into results/hparams/gpu_sweep_cpu/runs/ and `collect` them.

Why: the cpu sweep (`hifi-nb sweep --profile cpu`) runs at 1,000 examples x 3 epochs, where CoLA and MRPC carry no
signal, and HiFi's chosen rate (2e-3) then failed at the grid's budget (results/study/probes/). A sweep at the grid's
budget costs ~10 h of this machine; a GPU does it in minutes, with many processes sharing the card.

What a job is: `hifi_nb.train.run(task, method, seed, lr=lr, **cpu profile budget)` re-done without `datasets` /
`Trainer`, step for step the same recipe: the task's SAM-protocol splits tokenized here by `hifi_nb.data`
(`tokenize_task`, 128 tokens); the same model (MiniLM-L6 stored in float16, relative rounding <= 5e-4; the word
embedding keeps its 30,522 rows, the rows no split uses are zero, so SAM's per-tensor budget and the random
mask's draw see the same tensor), the same selection sample (HiFi: the 256 examples `make_batches` draws with the
seed; SAM: the 200 x 16 examples `_cycled` draws), `prepare` with the same config; AdamW with the Trainer's decay
groups, linear schedule with `ceil(0.06 x steps)` warm-up, gradient clipping at 1.0, batches of 16 in
transformers' length-grouped order, dropout on; validation (and test) predictions after every epoch. What differs:
the data order and dropout draws (another generator), the classifier's initial draw, float32 on a GPU instead of a
CPU. `collect` puts the GPU scores of the seed-0 runs beside the cpu grid's and probes' records at the same
settings, so the transfer can be judged from the numbers.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))

FORMAT = "hifi_nb.gpu_sweep/1"
TASKS = ("cola", "stsb", "mrpc", "sst2")            # the cpu sweep's tasks (hifi_nb.profiles.SWEEP_TASKS)
EXTRA_LRS = {"hifi": (1e-4, 2e-4)}                  # below the registry's range: the probes favour its lowest rate
CENTRE = {"hifi": 5e-4}                             # run the rates nearest this first (default: the chosen rate)
PRIORITY = ("hifi", "sam", "bitfit", "lora", "adapter", "full")
BUNDLE = ROOT / "gpu_sweep_bundle"


# ------------------------------------------------------------------------------------------------ the grid
def sweep_grid() -> dict:
    from hifi_nb.profiles import SWEEP_LRS
    return {m: sorted(set(SWEEP_LRS[m]) | set(EXTRA_LRS.get(m, ()))) for m in PRIORITY}


def jobs(grid: dict, chosen: dict, tasks=TASKS, seeds=(0,), methods=PRIORITY, max_rates: int | None = None) -> list[dict]:
    """Seed-major, then methods in `PRIORITY`, each method's rates nearest its centre first, tasks dearest first:
    a sweep cut short by the clock still has whole (method, rate) rows for the first methods."""
    out = []
    for seed in seeds:
        for m in methods:
            c = CENTRE.get(m, chosen.get(m, grid[m][len(grid[m]) // 2]))
            for lr in sorted(grid[m], key=lambda x: (abs(math.log(x / c)), x))[:max_rates]:
                out += [dict(task=t, method=m, lr=lr, seed=seed) for t in tasks]
    return out


def job_id(j: dict) -> str: return f"{j['task']}__{j['method']}_lr{j['lr']:g}__{j['seed']}"


# ------------------------------------------------------------------------------------------------ bundle (here)
def _perm(ds, seed: int) -> list[int]:
    "The row order `ds.shuffle(seed=seed)` gives (its permutation depends only on the seed and the length)."
    return ds.add_column("_row", list(range(len(ds)))).shuffle(seed=seed)["_row"]


def build(out: Path, tasks=TASKS, seeds=(0, 1, 2), data_dir: str | None = None) -> dict:
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModel, AutoTokenizer
    from hifi_nb.data import get_task, load_task, tokenize_task
    from hifi_nb.models import minilm_path
    from hifi_nb.profiles import CPU_BUDGETS, CPU_COMMON
    t0 = time.time()
    out.mkdir(parents=True, exist_ok=True)
    tok = AutoTokenizer.from_pretrained(minilm_path())
    used, meta = {0}, dict(format=FORMAT, created=time.strftime("%Y-%m-%dT%H:%M:%S"), tasks={})
    for t in tasks:
        task = get_task(t)
        if task.kind == "multiple_choice": raise ValueError(f"{t}: multiple-choice tasks are not bundled")
        p = CPU_COMMON | CPU_BUDGETS[t]
        dd = load_task(t, data_dir, protocol=p["protocol"], seed=0, max_train_samples=p.get("max_train_samples"))
        me = p.get("max_eval_samples")
        if me is not None and len(dd["validation"]) > me:
            dd["validation"] = dd["validation"].shuffle(seed=0).select(range(me))
        tokd = tokenize_task(dd, tok, t, p["max_length"])
        splits = {}
        for s in ("train", "validation", "test"):
            ids, tts = tokd[s]["input_ids"], tokd[s]["token_type_ids"]
            lens = torch.tensor([len(x) for x in ids])
            used |= {i for x in ids for i in x}
            splits[s] = dict(ids=torch.tensor([i for x in ids for i in x], dtype=torch.int32),
                             tt=torch.tensor([i for x in tts for i in x], dtype=torch.int8),
                             off=torch.cat([torch.zeros(1, dtype=torch.long), lens.cumsum(0)]),
                             labels=torch.tensor(tokd[s]["labels"], dtype=torch.float32 if task.is_regression else torch.long))
        n = len(dd["train"])
        sel = {}
        for seed in seeds:       # run(): make_batches(n_examples=256, seed) and _cycled(200 x 16, seed)
            score = _perm(dd["train"], seed)[:p["n_score_examples"]]
            need, sam, e = p["sam_batches"] * p["sam_batch_size"], [], 0
            while len(sam) < need: sam += _perm(dd["train"], seed + e); e += 1
            sel[seed] = dict(score=score, sam=sam[:need])
        torch.save(dict(task=t, kind=task.kind, num_labels=task.num_labels, regression=task.is_regression,
                        splits=splits, selection=sel), out / f"{t}.pt")
        meta["tasks"][t] = dict(budget={k: v for k, v in p.items() if k in ("epochs", "batch_size", "max_length",
                                "n_score_examples", "score_batch_size", "sam_batches", "sam_batch_size",
                                "max_train_samples", "max_eval_samples", "train_sampling_strategy")},
                                sizes={s: len(tokd[s]) for s in splits}, seeds=list(seeds))
    base = AutoModel.from_pretrained(minilm_path()).eval()
    sd = {f"bert.{k}": v.detach() for k, v in base.state_dict().items() if v.is_floating_point()}
    rows = torch.tensor(sorted(used))
    emb = "bert.embeddings.word_embeddings.weight"
    tensors = {k: v.half().contiguous() for k, v in sd.items() if k != emb}
    tensors[emb + "::rows"] = sd[emb][rows].half().contiguous()
    tensors[emb + "::index"] = rows.int()
    save_file(tensors, str(out / "minilm.safetensors"), metadata={"format": FORMAT})
    cfg = base.config.to_dict()
    for k in ("transformers_version", "torch_dtype", "dtype", "architectures", "_name_or_path"): cfg.pop(k, None)
    (out / "config.json").write_text(json.dumps(cfg, indent=1))
    err = max(float(((v.half().float() - v).abs().max() / v.abs().max())) for v in sd.values())
    files = {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.name != "manifest.json"}
    h = hashlib.sha256()
    for name in sorted(files): h.update((out / name).read_bytes())
    meta.update(model="minilm-l6", model_source=str(minilm_path()), dtype="float16", max_rel_rounding=err,
                embedding_rows_stored=len(rows), embedding_rows=int(base.config.vocab_size), files=files,
                total_bytes=sum(files.values()), digest=h.hexdigest()[:16], seconds=round(time.time() - t0, 1))
    (out / "manifest.json").write_text(json.dumps(meta, indent=1))
    return meta


# ------------------------------------------------------------------------------------------------ run (GPU side)
def load_task_data(bundle: Path, task: str) -> dict:
    import torch
    return torch.load(bundle / f"{task}.pt", weights_only=True)


def load_base(bundle: Path) -> tuple[dict, dict]:
    "(config dict, float32 state dict with the full-size word embedding)."
    import torch
    from safetensors.torch import load_file
    cfg = json.loads((bundle / "config.json").read_text())
    raw = load_file(str(bundle / "minilm.safetensors"))
    emb = "bert.embeddings.word_embeddings.weight"
    sd = {k: v.float() for k, v in raw.items() if "::" not in k}
    full = torch.zeros(cfg["vocab_size"], cfg["hidden_size"])
    full[raw[emb + "::index"].long()] = raw[emb + "::rows"].float()
    sd[emb] = full
    return cfg, sd


def build_model(cfg: dict, sd: dict, data: dict, seed: int, dev):
    import torch
    from transformers import BertConfig, BertForSequenceClassification
    c = BertConfig(**cfg)
    c.num_labels = 1 if data["regression"] else data["num_labels"]
    if data["regression"]: c.problem_type = "regression"
    torch.manual_seed(seed)
    model = BertForSequenceClassification(c)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    bad = [m for m in missing if not m.startswith("classifier.") and "position_ids" not in m]
    if bad or unexpected: raise RuntimeError(f"bundle weights do not fit: missing {bad}, unexpected {unexpected}")
    model.hifi_model_id = "minilm-l6"
    return model.to(dev)


def collate(split: dict, rows, labels: bool = True) -> dict:
    import torch
    off, ids, tt = split["off"], split["ids"], split["tt"]
    seqs = [(int(off[i]), int(off[i + 1])) for i in rows]
    L = max(b - a for a, b in seqs)
    out = dict(input_ids=torch.zeros(len(seqs), L, dtype=torch.long), token_type_ids=torch.zeros(len(seqs), L, dtype=torch.long),
               attention_mask=torch.zeros(len(seqs), L, dtype=torch.long))
    for r, (a, b) in enumerate(seqs):
        out["input_ids"][r, :b - a] = ids[a:b]; out["token_type_ids"][r, :b - a] = tt[a:b]; out["attention_mask"][r, :b - a] = 1
    if labels: out["labels"] = split["labels"][list(rows)]
    return out


def batches_of(split: dict, rows, size: int, labels: bool = True) -> list[dict]:
    rows = list(rows)
    return [collate(split, rows[i:i + size], labels) for i in range(0, len(rows), size)]


def predict(model, split: dict, dev, regression: bool, size: int = 64) -> list:
    import torch
    model.eval(); out = []
    with torch.no_grad():
        for b in batches_of(split, range(len(split["labels"])), size, labels=False):
            logits = model(**{k: v.to(dev) for k, v in b.items()}).logits.float()
            out += ([round(float(x), 5) for x in logits.view(-1)] if regression else logits.argmax(-1).tolist())
    model.train()
    return out


def train_job(job: dict, data: dict, cfg: dict, sd: dict, dev, meta: dict, max_train: int | None = None,
              epochs: float | None = None) -> dict:
    import torch
    from torch import nn
    from transformers import set_seed
    from transformers.optimization import get_linear_schedule_with_warmup
    from transformers.trainer_pt_utils import get_length_grouped_indices, get_parameter_names
    from hifi_nb.tuning import make_config, prepare, trainable_report
    t0 = time.perf_counter()
    task, method, lr, seed = job["task"], job["method"], float(job["lr"]), int(job["seed"])
    b = meta["tasks"][task]["budget"]
    bs, E = b["batch_size"], epochs or b["epochs"]
    train = data["splits"]["train"]
    n = len(train["labels"]) if max_train is None else min(max_train, len(train["labels"]))
    sel = data["selection"][seed]
    set_seed(seed)
    model = build_model(cfg, sd, data, seed, dev)
    opts, extra = {}, {}
    if method == "adapter": opts = dict(size=16)
    elif method == "hifi":
        from hifi_nb.heads import score_heads
        scores = score_heads(model, [{k: v.to(dev) for k, v in x.items()} for x in
                                     batches_of(train, sel["score"][:max_train or None], b["score_batch_size"], labels=False)],
                             info="nuclear", correlation="pooled", damping=0.85)
        opts = dict(heads=[tuple(map(int, h)) for h in scores.select(k=3, how="topk", seed=seed)])
        extra["heads"] = opts["heads"]
    elif method == "sam":
        from hifi_nb.sam import accumulate_gradients
        gb = batches_of(train, sel["sam"][:(max_train or len(sel["sam"]))], b["sam_batch_size"])
        opts = dict(density=0.005, stats=accumulate_gradients(model, gb, seed=seed), score="grad_sq", scope="per_tensor")
    elif method == "random_heads": opts = dict(k=3, seed=seed)
    elif method == "random_mask": opts = dict(density=0.005, seed=seed, scope="per_tensor")
    stats = opts.pop("stats", None)
    set_seed(seed)
    model = prepare(model, make_config(method, lr=lr, train_pooler=False, **opts), stats=stats)
    model.to(dev)
    rep = trainable_report(model)
    select_s = time.perf_counter() - t0
    decay = set(get_parameter_names(model, [nn.LayerNorm], [r"bias", r"layernorm", r"rmsnorm", r"(?:^|\.)norm(?:$|\.)",
                                                            r"_norm(?:$|\.)"]))
    named = [(k, p) for k, p in model.named_parameters() if p.requires_grad]
    opt = torch.optim.AdamW([dict(params=[p for k, p in named if k in decay], weight_decay=0.01),
                             dict(params=[p for k, p in named if k not in decay], weight_decay=0.0)],
                            lr=lr, betas=(0.9, 0.999), eps=1e-8)
    per_epoch = math.ceil(n / bs)
    total = math.ceil(per_epoch * E)
    sched = get_linear_schedule_with_warmup(opt, math.ceil(0.06 * total), total)
    lengths = [int(train["off"][i + 1] - train["off"][i]) for i in range(n)]
    gen = torch.Generator().manual_seed(seed)
    params = [p for _, p in named]
    model.train()
    history, step, nonfinite = [], 0, 0
    t1 = time.perf_counter()
    while step < total:
        order = get_length_grouped_indices(lengths, bs, generator=gen)
        losses = []
        for i in range(0, n, bs):
            if step >= total: break
            batch = {k: v.to(dev, non_blocking=True) for k, v in collate(train, order[i:i + bs]).items()}
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step(); sched.step(); opt.zero_grad(set_to_none=True)
            losses.append(loss.detach()); step += 1
        lv = torch.stack(losses).float().cpu()
        nonfinite += int((~torch.isfinite(lv)).sum())
        history.append(dict(epoch=round(step / per_epoch, 3), step=step, train_loss=float(lv[torch.isfinite(lv)].mean()) if
                            bool(torch.isfinite(lv).any()) else float("nan"),
                            val=predict(model, data["splits"]["validation"], dev, data["regression"]),
                            test=predict(model, data["splits"]["test"], dev, data["regression"])))
    train_s = time.perf_counter() - t1
    return dict(format=FORMAT, job=job, id=job_id(job), status="ok", history=history, nonfinite_losses=nonfinite,
                steps=step, warmup=math.ceil(0.06 * total), trainable=rep["trainable"], trainable_pct=rep["percent"],
                select_s=select_s, train_s=train_s, seconds=time.perf_counter() - t0, extra=extra,
                max_train=max_train, epochs=E, bundle_digest=meta["digest"])


def _worker(wid: int, q, out: str, bundle: str, deadline: float, dry: dict, threads: int):
    import torch
    torch.set_num_threads(threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    dev = torch.device("cuda", 0) if torch.cuda.is_available() and not dry else torch.device("cpu")
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False; torch.backends.cudnn.allow_tf32 = False
    bundle, out = Path(bundle), Path(out)
    meta = json.loads((bundle / "manifest.json").read_text())
    cfg, sd = load_base(bundle)
    cache = {}
    while True:
        try: job = q.get_nowait()
        except Exception: return
        if time.time() > deadline: return
        f = out / f"{job_id(job)}.json"
        if f.exists(): continue
        try:
            if job["task"] not in cache: cache[job["task"]] = load_task_data(bundle, job["task"])
            rec = train_job(job, cache[job["task"]], cfg, sd, dev, meta, **dry)
        except Exception as e:
            rec = dict(format=FORMAT, job=job, id=job_id(job), status="failed", error=f"{type(e).__name__}: {e}",
                       traceback=traceback.format_exc()[-3000:])
        rec.update(worker=wid, device=str(dev), gpu=(torch.cuda.get_device_name(0) if dev.type == "cuda" else None),
                   torch=torch.__version__, finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
        tmp = f.with_suffix(".tmp"); tmp.write_text(json.dumps(rec)); tmp.replace(f)
        print(f"[w{wid}] {rec['id']}: {rec['status']} {rec.get('seconds', 0):.0f}s", flush=True)


def run_sweep(out: Path, bundle: Path, workers: int, budget_s: float, seeds, tasks, dry: dict, threads: int = 1,
              methods=PRIORITY, max_rates: int | None = None, tar: str | None = None, done_dirs=(), grace: float = 600) -> int:
    import multiprocessing as mp
    out.mkdir(parents=True, exist_ok=True)
    meta = json.loads((bundle / "manifest.json").read_text())
    chosen = json.loads((ROOT / "results/hparams/lr_cpu.json").read_text())["chosen"]
    have = {f.stem for f in out.glob("*.json")}
    for d in done_dirs:            # records already brought back (e.g. results/hparams/gpu_sweep_cpu/runs): ok ones only
        have |= {f.stem for f in Path(d).glob("*.json") if json.loads(f.read_text()).get("status") == "ok"}
    todo = [j for j in jobs(sweep_grid(), chosen, tasks, seeds, methods, max_rates) if job_id(j) not in have]
    print(f"gpu-sweep: {len(todo)} jobs, {workers} workers, {budget_s:.0f} s, bundle {meta['digest']}", flush=True)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    for j in todo: q.put(j)
    deadline = time.time() + budget_s
    ps = [ctx.Process(target=_worker, args=(i, q, str(out), str(bundle), deadline, dry, threads)) for i in range(workers)]
    for p in ps: p.start()
    # a job started before the deadline may run past it: wait `grace` seconds more, then stop the workers, so that
    # the records that did land are still counted and packed (a caller's `timeout` would kill the packing too)
    for p in ps: p.join(max(1.0, deadline - time.time() + grace))
    late = [p for p in ps if p.is_alive()]
    for p in late: p.terminate()
    for p in late: p.join(10)
    if late: print(f"gpu-sweep: stopped {len(late)} workers still running {grace:.0f} s after the budget", flush=True)
    done = len(list(out.glob("*.json")))
    print(f"gpu-sweep: {done} records in {out}", flush=True)
    if tar:          # the device tool brings back only a few files per call: one archive of every record
        import tarfile
        with tarfile.open(tar, "w:gz") as tf:
            for f in sorted(out.glob("*.json")): tf.add(f, arcname=f"{out.name}/{f.name}")
        print(f"gpu-sweep: {done} records packed into {tar}", flush=True)
    return 0


# ------------------------------------------------------------------------------------------------ collect (here)
def score_record(rec: dict, data: dict) -> dict:
    "Per epoch validation / test scores (hifi_nb.metrics), the best epoch by validation main metric."
    import numpy as np
    from hifi_nb.metrics import compute_metrics
    t = rec["job"]["task"]
    ys = {s: data["splits"][s]["labels"].numpy() for s in ("validation", "test")}
    eps = []
    for h in rec["history"]:
        row = dict(epoch=h["epoch"], train_loss=h["train_loss"])
        for s, key in (("validation", "val"), ("test", "test")):
            m = compute_metrics(t, np.asarray(h[key]), ys[s])
            row[key] = m["main"]; row[key + "_top_share"] = m.get("top_class_share")
        eps.append(row)
    best = max(range(len(eps)), key=lambda i: (eps[i]["val"], -i)) if eps else None
    return dict(epochs=eps, best_epoch=eps[best]["epoch"] if eps else None, val=eps[best]["val"] if eps else None,
                test=eps[best]["test"] if eps else None,
                collapsed=bool(eps and (eps[best].get("test_top_share") or 0) >= 0.99))


def collect(src: Path, bundle: Path, dest: Path) -> dict:
    import numpy as np
    from hifi_nb.profiles import LR_TOLERANCE
    meta = json.loads((bundle / "manifest.json").read_text())
    datas, rows = {}, []
    for f in sorted(src.glob("*.json")):
        rec = json.loads(f.read_text())
        if rec.get("format") != FORMAT: continue
        j = rec["job"]
        row = dict(id=rec["id"], task=j["task"], method=j["method"], lr=j["lr"], seed=j["seed"], status=rec["status"])
        if rec["status"] == "ok":
            if rec.get("bundle_digest") != meta["digest"]:
                raise SystemExit(f"{f}: made from bundle {rec.get('bundle_digest')}, not {meta['digest']}: rebuild it")
            if j["task"] not in datas: datas[j["task"]] = load_task_data(bundle, j["task"])
            row.update(score_record(rec, datas[j["task"]]), steps=rec["steps"], seconds=rec["seconds"],
                       train_s=rec["train_s"], nonfinite_losses=rec["nonfinite_losses"], trainable=rec["trainable"],
                       heads=rec["extra"].get("heads"), max_train=rec.get("max_train"), gpu=rec.get("gpu"))
        else:
            row["error"] = rec.get("error")
        rows.append(row)
    dest.mkdir(parents=True, exist_ok=True)
    ok = [r for r in rows if r["status"] == "ok"]
    # the rate each method would get by the cpu rule, on the tasks every rate of the method has (seed 0)
    choice = {}
    for m in PRIORITY:
        rs = [r for r in ok if r["method"] == m and r["seed"] == 0]
        lrs = sorted({r["lr"] for r in rs})
        tasks = [t for t in TASKS if all(any(r["lr"] == lr and r["task"] == t for r in rs) for lr in lrs)]
        if not lrs or not tasks: continue
        mean = {lr: float(np.mean([r["val"] for r in rs if r["lr"] == lr and r["task"] in tasks])) for lr in lrs}
        best = max(mean.values())
        pick = min(lr for lr in lrs if mean[lr] >= best - LR_TOLERANCE)
        grid_m = sweep_grid()[m]
        choice[m] = dict(lr=pick, tasks=tasks, mean_val=mean, at_edge=pick in (lrs[0], lrs[-1]), rates=lrs,
                         complete=lrs == grid_m and len(tasks) == len(TASKS))
    summary = dict(format=FORMAT, created=time.strftime("%Y-%m-%dT%H:%M:%S"), bundle=meta["digest"], n_records=len(rows),
                   n_ok=len(ok), choice=choice, agreement=agreement_rows(ok), runs=rows)
    (dest / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (dest / "summary.md").write_text(summary_md(summary) + "\n")
    return summary


def agreement_rows(ok: list[dict]) -> list[dict]:
    "GPU seed-0 runs beside the cpu records (grid at the chosen rate, probes) of the same task, method, rate."
    out = []
    cpu = []
    for p in list((ROOT / "results/runs/cpu").glob("*__0.json")) + list((ROOT / "results/study/probes").glob("*.json")):
        try: r = json.loads(p.read_text())
        except ValueError: continue
        if r.get("status") != "ok" or r.get("group") not in ("main", "probe"): continue
        cpu.append(r)
    for r in ok:
        if r["seed"] != 0 or r.get("max_train") is not None: continue      # dry runs are not the grid's budget
        for c in cpu:
            cfg = c.get("config", {})
            if (c["task"], c["method"], c["seed"]) == (r["task"], r["method"], 0) and math.isclose(cfg.get("lr", -1), r["lr"]):
                out.append(dict(task=r["task"], method=r["method"], lr=r["lr"], gpu_val=r["val"], cpu_val=c["val_metrics"].get("main"),
                                gpu_test=r["test"], cpu_test=c["main"], cpu_group=c["group"]))
    return out


def summary_md(s: dict) -> str:
    L = [f"# Learning rates at the cpu grid's budget, from a GPU sweep", "",
         f"{s['n_ok']} of {s['n_records']} runs ok (bundle {s['bundle']}; made by `tools/gpu_sweep.py`, scored by "
         f"`tools/gpu_sweep.py collect`). Validation main metric x 100 at the best epoch, seed 0; the rule is the cpu "
         "sweep's (the smallest rate whose mean over the tasks is within 1 point of the best).", ""]
    for m, c in s["choice"].items():
        note = (" (at the edge of the rates run)" if c["at_edge"] else "") if c.get("complete") else \
            f" (partial: {len(c['rates'])} of {len(sweep_grid()[m])} rates on {len(c['tasks'])} of {len(TASKS)} tasks; no choice)"
        L.append(f"- **{m}**: {c['lr']:g}" + note + " — mean val over "
                 f"{', '.join(c['tasks'])}: " + ", ".join(f"{lr:g}: {100 * v:.1f}" for lr, v in sorted(c["mean_val"].items())))
    L += ["", "| method | lr | " + " | ".join(TASKS) + " |", "|---|---|" + "---|" * len(TASKS)]
    ok = [r for r in s["runs"] if r["status"] == "ok" and r["seed"] == 0]
    for m in PRIORITY:
        for lr in sorted({r["lr"] for r in ok if r["method"] == m}):
            cells = []
            for t in TASKS:
                r = next((r for r in ok if (r["method"], r["lr"], r["task"]) == (m, lr, t)), None)
                cells.append("" if r is None else f"{100 * r['val']:.1f} / {100 * r['test']:.1f}" + (" (1 class)" if r["collapsed"] else ""))
            L.append(f"| {m} | {lr:g} | " + " | ".join(cells) + " |")
    L += ["", "Cells: validation / test at the best validation epoch.", ""]
    if s["agreement"]:
        L += ["## The same settings on the cpu (seed 0)", "", "| task | method | lr | val gpu / cpu | test gpu / cpu | cpu record |",
              "|---|---|---|---|---|---|"]
        for a in s["agreement"]:
            L.append(f"| {a['task']} | {a['method']} | {a['lr']:g} | {100 * a['gpu_val']:.1f} / {100 * a['cpu_val']:.1f} | "
                     f"{100 * a['gpu_test']:.1f} / {100 * a['cpu_test']:.1f} | {a['cpu_group']} |")
    bad = [r for r in s["runs"] if r["status"] != "ok"]
    if bad: L += ["", "## Failed", ""] + [f"- {r['id']}: {str(r.get('error')).splitlines()[0][:160]}" for r in bad]
    return "\n".join(L)


# ------------------------------------------------------------------------------------------------ main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bundle"); b.add_argument("--out", default=str(BUNDLE)); b.add_argument("--seeds", default="0,1,2")
    r = sub.add_parser("run")
    r.add_argument("--out", required=True); r.add_argument("--bundle", default=str(BUNDLE))
    r.add_argument("--workers", type=int, default=12); r.add_argument("--budget", type=float, default=420)
    r.add_argument("--seeds", default="0"); r.add_argument("--tasks", default=",".join(TASKS))
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--methods", default=",".join(PRIORITY)); r.add_argument("--max-rates", type=int, default=None)
    r.add_argument("--tar", default=None, help="also pack every record into this .tar.gz (e.g. $OUT/sweep.tgz)")
    r.add_argument("--done", action="append", default=[], help="skip the jobs with an ok record in this folder")
    r.add_argument("--cpu-dry-run", action="store_true", help="a few examples, one epoch, on the CPU (tests)")
    r.add_argument("--grace", type=float, default=600, help="seconds past --budget before running jobs are stopped")
    c = sub.add_parser("collect"); c.add_argument("src"); c.add_argument("--bundle", default=str(BUNDLE))
    c.add_argument("--dest", default=str(ROOT / "results/hparams/gpu_sweep_cpu"))
    a = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if a.cmd == "bundle":
        for k, v in (("HIFI_GLUE_DIR", "glue"), ("HIFI_SAM_DIR", "sam_splits")):
            if not os.environ.get(k) and (ROOT.parent / "shared" / v).is_dir(): os.environ[k] = str(ROOT.parent / "shared" / v)
        m = build(Path(a.out), seeds=tuple(int(x) for x in a.seeds.split(",")))
        print(f"gpu-sweep bundle: {a.out}: {m['total_bytes'] / 2**20:.1f} MiB, {m['embedding_rows_stored']} embedding rows, "
              f"max float16 rounding {m['max_rel_rounding']:.1e}, digest {m['digest']}, {m['seconds']} s")
        return 0
    if a.cmd == "run":
        dry = dict(max_train=48, epochs=1) if a.cpu_dry_run else {}
        return run_sweep(Path(a.out), Path(a.bundle), a.workers, a.budget, tuple(int(x) for x in a.seeds.split(",")),
                         tuple(a.tasks.split(",")), dry, a.threads,
                         tuple(a.methods.split(",")), a.max_rates, a.tar, a.done, a.grace)
    s = collect(Path(a.src), Path(a.bundle), Path(a.dest))
    print(open(Path(a.dest) / "summary.md").read())
    return 0


if __name__ == "__main__":
    sys.exit(main())
