"""Learning curves of full fine-tuning on the cpu study's tasks (MiniLM-L6, SAM protocol): the validation
score every half epoch over a long run, to decide each task's epoch budget. Resumable: a task whose record
exists is skipped. Usage: python tools/learning_curves.py [task ...] (default: all)."""
import json, os, sys, time
from pathlib import Path

CURVES = {   # task: (epochs, extra run() settings); steps per epoch at batch 16 in brackets
    "cola": (6, {}),                                   # 7,695 train examples (481)
    "stsb": (6, {}),                                   # 5,166 (323)
    "mrpc": (6, {}),                                   # 3,294 (206)
    "rte":  (8, {}),                                   # 2,241 (141)
    "sst2": (4, dict(max_train_samples=8000, max_eval_samples=1000)),   # seeded subsample (500)
    "cb":   (30, {}),                                  # 225 (15)
    "copa": (30, {}),                                  # 360 (23)
    "wsc":  (20, {}),                                  # 495 (31)
}
OUT = Path(__file__).resolve().parents[1] / "results" / "curves" / "cpu"

def main(tasks):
    from hifi_nb.train import run, save_record
    OUT.mkdir(parents=True, exist_ok=True)
    for task in tasks:
        path = OUT / f"{task}__full__0.json"
        if path.exists(): print(f"{task}: done, skipped"); continue
        epochs, extra = CURVES[task]
        n_train = {"cola": 7695, "stsb": 5166, "mrpc": 3294, "rte": 2241, "sst2": 8000, "cb": 225, "copa": 360,
                   "wsc": 495}[task]
        steps_per_epoch = -(-n_train // 16)
        t0 = time.time()
        rec = run(task, "full", seed=0, model="minilm-l6", protocol="sam", lr=1e-4, epochs=epochs, batch_size=16,
                  max_length=128, eval_strategy="steps", eval_steps=max(1, steps_per_epoch // 2),
                  logging_steps=max(1, steps_per_epoch // 4), name="full_curve", group="curve", **extra)
        save_record(rec, path)
        print(f"{task}: {rec.status} test main {rec.main} best epoch {rec.best_epoch} ({time.time() - t0:.0f}s)", flush=True)

if __name__ == "__main__":
    main(sys.argv[1:] or list(CURVES))
