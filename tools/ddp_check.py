"""Data-parallel training through `hifi_nb.train.run` and the Trainer, checked.

    torchrun --nproc_per_node 2 tools/ddp_check.py --out DIR      # 2 processes (gloo on CPUs, NCCL on GPUs)
    python tools/ddp_check.py --out DIR                            # the same runs in one process, to compare

For each method (default hifi, sam, lora) every rank trains the tiny random-init model 'tiny-bert' with
`run()`, then writes `DIR/check_<method>_rank<r>.json`: the trainable set (names, shapes, selection, mask
digest), whether every frozen tensor is bit-identical after training to its value when training began, a
checksum of the trainable tensors (equal on every rank: DDP keeps the replicas in sync), the logged losses.
Rank 0 alone writes the record `DIR/record_<method>.json` (`save_record` is a no-op on other ranks).
`tests/test_gpu_paths.py::test_two_process_gloo_training` runs both modes and compares them.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))

METHODS = ("hifi", "sam", "lora")
SETTINGS = dict(model="tiny-bert", epochs=4, batch_size=8, max_length=32, max_train_samples=64,
                max_eval_samples=32, n_score_examples=16, score_batch_size=8, sam_batches=4, sam_batch_size=8,
                eval_test=False, logging_steps=1, disable_tqdm=True, lr=1e-2, k=2, density=0.05)


def _digest(tensors: dict) -> str:
    import numpy as np
    h = hashlib.sha1()
    for n in sorted(tensors):
        h.update(n.encode()); h.update(np.ascontiguousarray(tensors[n].detach().float().cpu().numpy()).tobytes())
    return h.hexdigest()[:16]


def check_method(method: str, out: Path, task: str = "sst2", seed: int = 0, **overrides) -> dict:
    "Train `method` with `run()` (on every rank under torchrun); return and write this rank's check."
    import torch
    import hifi_nb.train as T
    from hifi_nb.tuning import inner_model

    seen = {}

    class Keep(T._Trainer):                     # the Trainer run() builds, kept to inspect the trained model
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            seen["trainer"] = self
            seen["frozen"] = {n: p.detach().clone() for n, p in self.model.named_parameters() if not p.requires_grad}
            seen["start"] = {n: p.detach().clone() for n, p in self.model.named_parameters() if p.requires_grad}

    orig, T._Trainer = T._Trainer, Keep
    try:
        rec = T.run(task, method, seed=seed, **(SETTINGS | overrides))
    finally:
        T._Trainer = orig
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    model = seen["trainer"].model
    named = dict(model.named_parameters())
    trainable = {n: p for n, p in named.items() if p.requires_grad}
    frozen_same = {n: bool(torch.equal(named[n].detach(), v)) for n, v in seen["frozen"].items()}
    losses = [h["loss"] for h in rec.history if "loss" in h]
    third = max(1, len(losses) // 3)
    res = dict(method=method, rank=rank, world_size=world, status=rec.status, error=rec.error,
               trainable_names=sorted(trainable), trainable_shapes={n: list(p.shape) for n, p in trainable.items()},
               trainable=rec.trainable, selection=rec.selection, tuning=rec.extra.get("tuning"),
               frozen_tensors=len(frozen_same), frozen_identical=all(frozen_same.values()),
               frozen_changed=[n for n, ok in frozen_same.items() if not ok][:5],
               trainable_changed=sum(not torch.equal(trainable[n].detach(), v) for n, v in seen["start"].items()),
               trainable_digest=_digest(trainable), losses=losses,
               loss_first=sum(losses[:third]) / third if losses else None,
               loss_last=sum(losses[-third:]) / third if losses else None,
               device=str(next(inner_model(model).parameters()).device), train_steps=seen["trainer"].state.global_step)
    out.mkdir(parents=True, exist_ok=True)
    res["record_written"] = T.save_record(rec, out / f"record_{method}.json") is not None     # rank 0 only
    (out / f"check_{method}_rank{rank}.json").write_text(json.dumps(res, indent=1))
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--task", default="sst2")
    a = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    for m in a.methods.split(","):
        r = check_method(m, Path(a.out), a.task)
        print(f"rank {r['rank']}/{r['world_size']} {m}: status {r['status']}, {r['train_steps']} steps, trainable "
              f"{r['trainable']}, frozen identical {r['frozen_identical']}, loss {r['loss_first']:.3f} -> "
              f"{r['loss_last']:.3f}, digest {r['trainable_digest']}", flush=True)
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized(): dist.destroy_process_group()


if __name__ == "__main__":
    main()
