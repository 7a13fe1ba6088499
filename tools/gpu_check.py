"""`make gpu-check`: the GPU paths of hifi_nb, proven on one GPU in a few minutes, with no network.

    make gpu-bundle                                   # here (venv, MiniLM package, GLUE files): gpu_bundle/
    make gpu-check                                    # on the GPU machine: PYTHONPATH=. python3 tools/gpu_check.py

It uses that machine's own Python, torch, transformers (and CuPy, peft if present) with the project importable
from the tree; it reads `gpu_bundle/` (MiniLM weights and tokenized SST-2, see tools/gpu_bundle.py) and never
imports `hifi_nb.data` / `datasets`. Stages, each recorded even if another fails:

1. device: GPU name, memory, capability, bf16 support, versions.
2. agreement: `head_statistics` with every available backend (`cpu`, `cuda` = torch/cuSOLVER, `cupy`) against
   the float64 `reference_statistics`, to rtol 1e-4 (RV correlations also atol 1e-7), on MiniLM (real SST-2
   examples) and random-init BERT-base and BERT-large shapes (TF32 off).
3. timing: plain forward, head statistics per backend and the reference (per example) on the BERT-base and
   BERT-large shapes, medians of 3 with CUDA synchronisation.
4. training: full, hifi, sam, random_mask, lora, bitfit, `--steps` AdamW steps each on MiniLM with SST-2
   (bf16 autocast where supported); every frozen tensor must stay bit-identical, the loss must fall, the
   dev accuracy is recorded.

Writes `results/gpu/summary.json` and `results/gpu/summary.md`; exit status 0 only if every check passed.
Without a GPU it stops at once with one line saying so (exit status 2). `--cpu-dry-run --out DIR` runs the
same code on the CPU with tiny shapes (tests/test_gpu_paths.py), never writing results/gpu/.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for p in (str(ROOT), str(ROOT / "tools")):
    if p not in sys.path: sys.path.insert(0, p)

METHODS = ("full", "hifi", "sam", "random_mask", "lora", "bitfit")
RTOL, CORR_ATOL = 1e-4, 1e-7
SHAPES = {"bert-base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
          # BERT-base with 24 heads of 32: torch's CUDA eigvalsh is batched (syevj) only up to 32 x 32, so this
          # shape tells whether the `cuda` backend's 71-75x on the 64-wide heads (first H200 run) is that loop
          "bert-base-dh32": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=24, intermediate_size=3072),
          "bert-large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096)}
DRY_SHAPES = {"bert-base": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128),
              "bert-base-dh32": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=8, intermediate_size=128),
              "bert-large": dict(hidden_size=96, num_hidden_layers=3, num_attention_heads=6, intermediate_size=192)}


class Check:
    "Collects named pass/fail checks and the stage results."
    def __init__(self): self.items, self.data = [], {}
    def add(self, name: str, ok: bool, detail=None):
        self.items.append(dict(name=name, ok=bool(ok), detail=detail))
        print(f"  [{'ok' if ok else 'FAIL'}] {name}" + (f": {detail}" if detail not in (None, "") else ""), flush=True)
        return ok


def _sync(dev):
    import torch
    if dev.type == "cuda": torch.cuda.synchronize(dev)


def _timed(fn, dev, repeats: int = 3):
    out = []
    for _ in range(repeats):
        _sync(dev); t = time.perf_counter(); fn(); _sync(dev); out.append(time.perf_counter() - t)
    return sorted(out)[len(out) // 2], out


def device_info(dev) -> dict:
    import torch, transformers
    info = dict(python=platform.python_version(), python_executable=sys.executable, torch=torch.__version__,
                torch_cuda=torch.version.cuda, transformers=transformers.__version__, device=str(dev),
                platform=platform.platform(), cpu_count=os.cpu_count())
    for mod in ("cupy", "peft", "numpy", "safetensors"):
        try: info[mod] = __import__(mod).__version__
        except Exception as e: info[mod] = f"unavailable ({type(e).__name__}: {str(e)[:120]})"
    if dev.type == "cuda":
        p = torch.cuda.get_device_properties(dev)
        info.update(gpu=p.name, gpu_memory_gib=round(p.total_memory / 2**30, 1), capability=f"{p.major}.{p.minor}",
                    bf16=torch.cuda.is_bf16_supported(), gpu_count=torch.cuda.device_count())
    else:
        info.update(gpu=None, bf16=True)
    return info


def backends(dev, check: Check) -> list[str]:
    "The statistics backends to compare: cpu always; cuda and cupy on a GPU (a cupy that cannot run is a failure)."
    if dev.type != "cuda": return ["cpu"]
    from hifi_nb.heads import BackendUnavailable, resolve_backend
    out = ["cpu", "cuda"]
    try:
        resolve_backend("cupy"); out.append("cupy")
        check.add("cupy backend available", True)
    except BackendUnavailable as e:
        check.add("cupy backend available", False, str(e))
    return out


# ----------------------------------------------------------------------------------------------- data, models
def load_bundle(bundle: Path) -> dict:
    man = json.loads((bundle / "manifest.json").read_text())
    data = json.loads((bundle / "sst2.json").read_text())
    return dict(manifest=man, data=data)


def make_batch(ids: list[list[int]], labels: list[int] | None, pad: int = 0) -> dict:
    import torch
    L = max(map(len, ids))
    b = dict(input_ids=torch.tensor([x + [pad] * (L - len(x)) for x in ids]),
             attention_mask=torch.tensor([[1] * len(x) + [0] * (L - len(x)) for x in ids]))
    if labels is not None: b["labels"] = torch.tensor(labels)
    return b


def split_batches(split: dict, n: int, batch_size: int, seed: int = 0, labels: bool = True) -> list[dict]:
    import numpy as np
    order = np.random.default_rng(seed).permutation(len(split["label"]))
    order = np.resize(order, n) if n > len(order) else order[:n]           # cycles when n is larger
    return [make_batch([split["input_ids"][i] for i in order[s:s + batch_size]],
                       [split["label"][i] for i in order[s:s + batch_size]] if labels else None)
            for s in range(0, n, batch_size)]


def load_minilm(bundle: Path, dev, seed: int = 0):
    "MiniLM-L6 from the bundle (dequantized to float32, compact vocabulary) with a fresh seeded task head."
    import torch
    from safetensors.torch import load_file
    from transformers import BertConfig, BertForSequenceClassification
    from gpu_bundle import dequantize
    cfg = json.loads((bundle / "minilm" / "config.json").read_text())
    torch.manual_seed(seed)
    model = BertForSequenceClassification(BertConfig(**cfg))
    missing, unexpected = model.load_state_dict(dequantize(load_file(str(bundle / "minilm" / "model.safetensors"))),
                                                strict=False)
    bad = [m for m in missing if not m.startswith("classifier.") and "position_ids" not in m]
    if bad or unexpected: raise RuntimeError(f"bundle weights do not fit the model: missing {bad}, unexpected {unexpected}")
    model.hifi_model_id = "minilm-l6 (gpu bundle)"
    return model.to(dev)


def random_model(shape: dict, dev, seed: int = 0):
    import torch
    from transformers import BertConfig, BertForSequenceClassification
    torch.manual_seed(seed)
    with torch.device(dev):
        model = BertForSequenceClassification(BertConfig(num_labels=2, **shape)).eval()
    model.hifi_model_id = f"random-init {shape['num_hidden_layers']}x{shape['num_attention_heads']}"
    return model


def random_batches(model, n: int, batch_size: int, length: int, seed: int = 0):
    from hifi_nb.tuning import random_batches as rb
    return [{k: v for k, v in b.items() if k != "labels"}
            for b in rb(model, n=max(1, n // batch_size), batch_size=batch_size, length=length, seed=seed)]


# ----------------------------------------------------------------------------------------------- stages
def _max_rel(a, b) -> float:
    import numpy as np
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float((np.abs(a - b) / np.maximum(np.abs(b), 1e-30)).max())


def agreement(models: dict, bks: list[str], check: Check) -> list[dict]:
    import numpy as np
    from hifi_nb.heads import INFO_MEASURES, head_statistics, reference_statistics
    rows = []
    for name, (model, batches) in models.items():
        t = time.perf_counter()
        ref = reference_statistics(model, batches)
        t_ref = time.perf_counter() - t
        for b in bks:
            try:
                st = head_statistics(model, batches, backend=b, all_correlations=True)
                errs = {k: _max_rel(st.info[k], ref.info[k]) for k in INFO_MEASURES}
                ok = all(np.allclose(st.info[k], ref.info[k], rtol=RTOL, atol=0) for k in INFO_MEASURES)
                corr_err = {}
                for v in ("pooled", "per_example"):
                    ok &= np.allclose(st.corr_variants[v], ref.corr_variants[v], rtol=RTOL, atol=CORR_ATOL)
                    corr_err[v] = float(np.abs(st.corr_variants[v] - ref.corr_variants[v]).max())
                row = dict(model=name, backend=st.backend, n_examples=st.n_examples, ok=bool(ok), max_rel_err=errs,
                           corr_max_abs_err=corr_err, reference_seconds=t_ref)
                check.add(f"agreement {name} backend={b}", ok, f"max rel err {max(errs.values()):.1e}, corr max abs err "
                          f"{max(corr_err.values()):.1e} ({st.n_examples} examples)")
            except Exception as e:
                row = dict(model=name, backend=b, ok=False, error=f"{type(e).__name__}: {e}")
                check.add(f"agreement {name} backend={b}", False, row["error"][:300])
            rows.append(row)
    return rows


def timing(models: dict, bks: list[str], dev, ref_rows: list[dict], repeats: int = 3) -> list[dict]:
    import torch
    from hifi_nb.heads import head_statistics
    rows = []
    for name, (model, batches) in models.items():
        n = sum(len(b["input_ids"]) for b in batches)
        def fwd():
            with torch.no_grad():
                for b in batches: model(**{k: v.to(dev) for k, v in b.items()})
        fwd()                                                                  # warm-up
        f_med, f_all = _timed(fwd, dev, repeats)
        row = dict(model=name, n_examples=n, tokens_per_example=int(batches[0]["input_ids"].shape[1]),
                   forward_s=f_med, forward_runs=f_all, stats={})
        for b in bks:
            head_statistics(model, batches[:1], backend=b)                     # warm-up (kernels, cuSOLVER handles)
            s_med, s_all = _timed(lambda: head_statistics(model, batches, backend=b), dev, repeats)
            br = head_statistics(model, batches, backend=b, timings=True).timings
            row["stats"][b] = dict(seconds=s_med, runs=s_all, ratio_to_forward=s_med / f_med, breakdown=br)
        ref = [r for r in ref_rows if r["model"] == name and "reference_seconds" in r]
        if ref:
            per = ref[0]["reference_seconds"] / ref[0]["n_examples"]
            row.update(reference_s_per_example=per, reference_s_estimated=per * n,
                       reference_ratio_to_forward=per * n / f_med)
        print(f"  timing {name}: forward {f_med:.3f}s for {n} examples; " + ", ".join(
            f"{b} {v['seconds']:.3f}s ({v['ratio_to_forward']:.2f}x)" for b, v in row["stats"].items()) +
            (f"; reference {row['reference_s_estimated']:.1f}s (estimated from {ref[0]['n_examples']} examples)" if ref else ""),
            flush=True)
        rows.append(row)
    return rows


def train_one(method: str, bundle: Path, data: dict, dev, steps: int, batch_size: int, amp: bool,
              seed: int = 0, score_examples: int = 64, sam_batches: int = 32, eval_examples: int | None = None,
              one_batch: bool = False, check: Check | None = None) -> dict:
    "One method's training; `one_batch` (the dry run's few steps) repeats a single batch so the loss must fall."
    import torch
    from hifi_nb.tuning import METHODS, prepare, trainable_report
    t0 = time.perf_counter()
    model = load_minilm(bundle, dev, seed)
    cfg = {}
    if method == "hifi":
        from hifi_nb.heads import score_heads
        scores = score_heads(model, split_batches(data["train"], score_examples, 16, seed, labels=False))
        cfg = dict(heads=[tuple(map(int, h)) for h in scores.select(k=3)])
    elif method == "sam":
        from hifi_nb.sam import accumulate_gradients
        cfg = dict(stats=accumulate_gradients(model, split_batches(data["train"], sam_batches * 16, 16, seed + 1),
                                              seed=seed), density=0.005)
    elif method == "random_mask":
        cfg = dict(density=0.005, seed=seed)
    torch.manual_seed(seed)
    model = prepare(model, method, **cfg)
    select_s = time.perf_counter() - t0
    named = dict(model.named_parameters())
    frozen = {n: p.detach().clone() for n, p in named.items() if not p.requires_grad}
    params = {n: p for n, p in named.items() if p.requires_grad}
    start = {n: p.detach().clone() for n, p in params.items()}
    lr = METHODS[method].lr
    opt = torch.optim.AdamW(list(params.values()), lr=lr, weight_decay=0.01)
    warm = max(1, int(0.06 * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))))
    batches = split_batches(data["train"], (1 if one_batch else steps) * batch_size, batch_size, seed + 2)
    if one_batch: batches = batches * steps
    amp_dtype = torch.bfloat16
    if dev.type == "cuda": torch.cuda.reset_peak_memory_stats(dev)
    model.train(); losses = []
    # the first steps pay one-off costs (kernel loading, allocator growth; the first method trained in a process
    # pays the most): steps/s is timed from step `untimed` on
    untimed = min(10, steps // 10)
    _sync(dev); t1 = time.perf_counter()
    for i, b in enumerate(batches[:steps]):
        if i == untimed and untimed: _sync(dev); t1 = time.perf_counter()
        b = {k: v.to(dev) for k, v in b.items()}
        with torch.autocast(dev.type, dtype=amp_dtype, enabled=amp):
            loss = model(**b).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
        opt.step(); sched.step(); opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
    _sync(dev); train_s = time.perf_counter() - t1
    model.eval(); correct = n = 0
    with torch.no_grad():
        n_dev = len(data["validation"]["label"]) if eval_examples is None else min(eval_examples, len(data["validation"]["label"]))
        for b in split_batches(data["validation"], n_dev, 128, 0):
            b = {k: v.to(dev) for k, v in b.items()}
            with torch.autocast(dev.type, dtype=amp_dtype, enabled=amp):
                logits = model(**{k: v for k, v in b.items() if k != "labels"}).logits
            correct += int((logits.argmax(-1) == b["labels"]).sum()); n += len(b["labels"])
    named = dict(model.named_parameters())
    changed_frozen = [k for k, v in frozen.items() if not torch.equal(named[k].detach(), v)]
    moved = sum(not torch.equal(named[k].detach(), v) for k, v in start.items())
    w = max(1, min(20, len(losses) // 4))
    first, last = sum(losses[:w]) / w, sum(losses[-w:]) / w
    rep = trainable_report(model)
    row = dict(method=method, lr=lr, steps=len(losses), batch_size=batch_size, amp=("bf16" if amp else None),
               trainable=rep["trainable"], trainable_percent=rep["percent"], frozen_tensors=len(frozen),
               frozen_identical=not changed_frozen, frozen_changed=changed_frozen[:5], trainable_tensors_moved=moved,
               trainable_tensors=len(start), loss_first=first, loss_last=last, loss_finite=all(map(math.isfinite, losses)),
               dev_accuracy=correct / max(1, n), select_s=select_s, train_s=train_s, steps_per_s=(len(losses) - untimed) / train_s,
               untimed_steps=untimed,
               peak_mem_mib=(torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else None),
               selection=cfg.get("heads"))
    if check is not None:
        check.add(f"train {method}: frozen entries bit-identical", row["frozen_identical"],
                  f"{len(frozen)} frozen tensors" + (f", changed: {changed_frozen[:3]}" if changed_frozen else ""))
        check.add(f"train {method}: trainable entries moved, loss finite and falling",
                  moved > 0 and row["loss_finite"] and last < first,
                  f"{moved}/{len(start)} tensors moved, loss {first:.3f} -> {last:.3f}, dev acc {row['dev_accuracy']:.3f}, "
                  f"{row['steps_per_s']:.1f} steps/s")
    return row


# ----------------------------------------------------------------------------------------------- summary
def write_summary(out: Path, summary: dict):
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    if summary["status"] == "not_run":
        (out / "summary.md").write_text(f"# GPU check: not run on a GPU yet\n\n{summary['reason']}.\n\nHow: "
                                        f"{summary['how']} (README, *GPUs*).\n\n{summary['verified_without_gpu']}\n")
        return
    L = [f"# GPU check ({summary['status']})", "",
         f"{summary.get('created', '')}, {summary['device'].get('gpu') or summary['device'].get('device')}, torch "
         f"{summary['device'].get('torch')} (CUDA {summary['device'].get('torch_cuda')}), transformers "
         f"{summary['device'].get('transformers')}, cupy {summary['device'].get('cupy')}; {summary['seconds']:.0f} s.", ""]
    if summary.get("agreement"):
        L += ["## Backends against the float64 reference", "", "| model | backend | examples | max rel err (info) | "
              "max abs err (RV) | ok |", "|---|---|---|---|---|---|"]
        for r in summary["agreement"]:
            if "error" in r: L.append(f"| {r['model']} | {r['backend']} | | {r['error'][:80]} | | no |"); continue
            L.append(f"| {r['model']} | {r['backend']} | {r['n_examples']} | {max(r['max_rel_err'].values()):.1e} | "
                     f"{max(r['corr_max_abs_err'].values()):.1e} | {'yes' if r['ok'] else 'no'} |")
        L.append("")
    if summary.get("timing"):
        L += ["## Head scoring cost (random init, medians of 3)", "", "| shape | examples x tokens | forward s | backend | "
              "statistics s | x forward | reference s (est.) |", "|---|---|---|---|---|---|---|"]
        for r in summary["timing"]:
            for b, v in r["stats"].items():
                L.append(f"| {r['model']} | {r['n_examples']} x {r['tokens_per_example']} | {r['forward_s']:.3f} | {b} | "
                         f"{v['seconds']:.3f} | {v['ratio_to_forward']:.2f} | {r.get('reference_s_estimated', float('nan')):.1f} |")
        L.append("")
    if summary.get("training"):
        L += ["## Training on MiniLM, SST-2", "", "steps/s leaves out each method's first steps (`untimed_steps` in the "
              "JSON: one-off costs such as loading kernels).", "", "| method | steps | trainable | frozen identical | loss first -> last | "
              "dev acc | steps/s | peak MiB |", "|---|---|---|---|---|---|---|---|"]
        for r in summary["training"]:
            if "error" in r: L.append(f"| {r['method']} | error: {r['error'][:80]} | | | | | | |"); continue
            pm = f"{r['peak_mem_mib']:.0f}" if r.get("peak_mem_mib") else ""
            L.append(f"| {r['method']} | {r['steps']} | {r['trainable']} | {'yes' if r['frozen_identical'] else 'NO'} | "
                     f"{r['loss_first']:.3f} -> {r['loss_last']:.3f} | {r['dev_accuracy']:.3f} | {r['steps_per_s']:.1f} | {pm} |")
        L.append("")
    L += ["## Checks", ""] + [f"- {'ok' if c['ok'] else 'FAIL'}: {c['name']}" + (f" ({c['detail']})" if c['detail'] else "")
                                for c in summary["checks"]]
    (out / "summary.md").write_text("\n".join(L) + "\n")


def not_run_summary(reason: str) -> dict:
    "What results/gpu/summary.json says before any GPU has run the check."
    return dict(status="not_run", ran_on_gpu=False, reason=reason, how="make gpu-bundle (here), then carry gpu_bundle/ "
                "to a machine with one GPU and run make gpu-check there", checks=[], device={}, seconds=0,
                verified_without_gpu="Checked on CPUs only (tests/test_gpu_paths.py): this script end to end with "
                "--cpu-dry-run (tiny shapes, the cpu backend, bf16 autocast on the CPU, all six methods, frozen entries "
                "bit-identical, no datasets import); the CuPy kernels with NumPy standing in for CuPy against the float64 "
                "reference; inputs reaching the model's device in scoring, SAM gradients, training and evaluation; "
                "2-process gloo training of hifi, sam and lora with torchrun. The cuda and cupy backends themselves, "
                "cuSOLVER, NCCL and GPU timings are unverified.")


# ----------------------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="check hifi_nb's GPU paths on one GPU (see the module docstring)")
    ap.add_argument("--bundle", default=str(ROOT / "gpu_bundle"))
    ap.add_argument("--out", default=None, help="default results/gpu (required with --cpu-dry-run)")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--budget", type=float, default=420, help="seconds; later stages are skipped when it runs out")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--cpu-dry-run", action="store_true", help="tiny shapes on the CPU (tests); needs --out")
    ap.add_argument("--not-run-summary", action="store_true", help="write the 'not run on a GPU yet' summary and stop")
    a = ap.parse_args(argv)
    t_start = time.perf_counter()
    out = Path(a.out) if a.out else ROOT / "results" / "gpu"
    if a.not_run_summary:
        write_summary(out, not_run_summary("no GPU has run tools/gpu_check.py for this tree yet")); return 0
    try:
        import torch
    except ImportError as e:
        print(f"gpu-check: torch is not importable by {sys.executable} ({e}); run it with the GPU machine's Python "
              "(GPU_PYTHON=...)"); return 2
    if a.cpu_dry_run:
        if not a.out: print("gpu-check: --cpu-dry-run needs --out DIR (it never writes results/gpu/)"); return 2
        dev = torch.device("cpu")
    elif not torch.cuda.is_available():
        why = ("this torch build has no CUDA support" if torch.version.cuda is None else
               f"torch.cuda.is_available() is False (CUDA {torch.version.cuda} build; no GPU, no driver, or hidden)")
        print(f"gpu-check: no GPU present ({why}; torch {torch.__version__}, {sys.executable}): nothing was run"); return 2
    else:
        dev = torch.device("cuda", 0)
        torch.backends.cuda.matmul.allow_tf32 = False            # the agreement checks compare float32 products
        torch.backends.cudnn.allow_tf32 = False
    bundle = Path(a.bundle)
    if not (bundle / "manifest.json").is_file():
        print(f"gpu-check: no bundle at {bundle}: run `make gpu-bundle` where the data are, and carry gpu_bundle/"); return 2
    dry = a.cpu_dry_run
    deadline = t_start + a.budget
    left = lambda: deadline - time.perf_counter()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    check = Check()
    summary = dict(status="running", ran_on_gpu=dev.type == "cuda", dry_run=dry, created=time.strftime("%Y-%m-%dT%H:%M:%S"),
                   device=device_info(dev), settings=dict(steps=a.steps, batch_size=a.batch_size, budget_s=a.budget,
                   rtol=RTOL, corr_atol=CORR_ATOL, tf32=False), checks=check.items)
    print(f"gpu-check: device {dev} ({summary['device'].get('gpu') or 'cpu dry run'}), torch {summary['device']['torch']}, "
          f"transformers {summary['device']['transformers']}, cupy {summary['device']['cupy']}", flush=True)
    b = load_bundle(bundle)
    summary["bundle"] = {k: b["manifest"].get(k) for k in ("format", "created", "quantization", "vocab_rows",
                                                          "hidden_state_max_rel_error", "n_train", "n_validation", "total_bytes")}
    data = b["data"]
    steps = 4 if dry else a.steps
    bs = 8 if dry else a.batch_size
    shapes = DRY_SHAPES if dry else SHAPES
    stages = {}
    try:
        bks = backends(dev, check)
        summary["backends"] = bks
        print("agreement with the float64 reference:", flush=True)
        mini = load_minilm(bundle, dev).eval()
        n_agree = 8 if dry else 16
        models = {"minilm-l6": (mini, split_batches(data["train"], n_agree, 8, 0, labels=False))}
        for name, shape in shapes.items():
            m = random_model(shape, dev)
            models[name] = (m, random_batches(m, max(n_agree, shape["num_attention_heads"]), 8, 32 if dry else 128))
        summary["agreement"] = agreement(models, bks, check)
        stages["agreement"] = True
        print("timing:", flush=True)
        tmodels = {}
        for name in shapes:
            m = models[name][0]
            tmodels[name] = (m, random_batches(m, 16 if dry else 64, 8 if dry else 32, 32 if dry else 128, seed=1))
        summary["timing"] = timing(tmodels, bks, dev, summary["agreement"], 1 if dry else 3)
        del models, tmodels, mini
        if dev.type == "cuda": torch.cuda.empty_cache()
        print("training:", flush=True)
        amp = bool(summary["device"].get("bf16"))
        summary["training"] = []
        for i, meth in enumerate(a.methods.split(",")):
            if left() < 30 and not dry:
                check.add(f"train {meth}", False, f"skipped: the {a.budget:.0f} s budget ran out"); continue
            try:
                summary["training"].append(train_one(meth, bundle, data, dev, steps, bs, amp, check=check,
                                                     score_examples=16 if dry else 64, sam_batches=2 if dry else 32,
                                                     eval_examples=32 if dry else None, one_batch=dry))
            except Exception as e:
                summary["training"].append(dict(method=meth, error=f"{type(e).__name__}: {e}",
                                                 traceback=traceback.format_exc()[-3000:]))
                check.add(f"train {meth}", False, f"{type(e).__name__}: {str(e)[:300]}")
    except Exception as e:
        summary["error"] = traceback.format_exc()[-4000:]
        check.add("gpu check ran to the end", False, f"{type(e).__name__}: {str(e)[:300]}")
    # what the GPU image lacks must not be needed; pyarrow is only reported: the image has it, and a library
    # there (not hifi_nb, which never imports hifi_nb.data here) imported it on the first real GPU run
    heavy = sorted(m for m in ("datasets", "papermill", "nbdev", "hifi_nb.data") if m in sys.modules)
    check.add("no datasets / papermill / nbdev / hifi_nb.data needed", not heavy, f"imported: {heavy}" if heavy else "")
    summary["imported_heavy"] = heavy
    summary["pyarrow_imported"] = "pyarrow" in sys.modules
    summary["seconds"] = time.perf_counter() - t_start
    ok = all(c["ok"] for c in check.items)
    summary["status"] = ("dry_run_ok" if ok else "dry_run_failed") if dry else ("ok" if ok else "failed")
    write_summary(out, summary)
    print(f"gpu-check: {summary['status']}: {sum(c['ok'] for c in check.items)}/{len(check.items)} checks passed in "
          f"{summary['seconds']:.0f} s; wrote {out}/summary.json and summary.md", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
