"""Linear probes on MiniLM's *frozen* features: is the class visible before any fine-tuning?

For each task: SAM-protocol train (first 1,500 after subsampling, seed 0) and test (first 1,000) sets;
features from the pretrained encoder without training: the [CLS] vector of the last layer, the pooler
output (dense + tanh on [CLS], the input of BertForSequenceClassification's classifier), and the mean of
the last layer over tokens (the pooling this sentence-transformers checkpoint was trained with).
A logistic regression (sklearn, C=1) is fitted on train features and scored on test.

    python results/hparams/probes/frozen_features.py cola rte mrpc sst2
writes results/hparams/probes/frozen_features.json"""
import json, sys
from pathlib import Path
import numpy as np, torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef
from hifi_nb.data import load_task
from hifi_nb.models import load_model

torch.set_num_threads(1)
out = Path(__file__).with_name("frozen_features.json")
rows = []
for task in sys.argv[1:]:
    dd = load_task(task, protocol="sam", seed=0, max_train_samples=1500)
    test = dd["test"].select(range(min(1000, len(dd["test"]))))
    model, tok = load_model("minilm-l6", task)
    model.eval()

    def features(ds):
        cls, pooled, mean = [], [], []
        for i in range(0, len(ds), 64):
            b = ds[i:i + 64]
            pair = b["text_b"] if b["text_b"][0] is not None else None
            enc = tok(b["text_a"], pair, truncation=True, max_length=128, padding=True, return_tensors="pt")
            with torch.no_grad(): o = model.base_model(**enc)
            m = enc["attention_mask"].unsqueeze(-1).float()
            cls.append(o.last_hidden_state[:, 0]); pooled.append(o.pooler_output)
            mean.append((o.last_hidden_state * m).sum(1) / m.sum(1))
        return {k: torch.cat(v).numpy() for k, v in (("cls", cls), ("pooler", pooled), ("mean", mean))}

    ftr, fte = features(dd["train"]), features(test)
    ytr, yte = np.array(dd["train"]["label"]), np.array(test["label"])
    for kind in ("cls", "pooler", "mean"):
        p = LogisticRegression(max_iter=2000, C=1.0).fit(ftr[kind], ytr).predict(fte[kind])
        row = dict(task=task, features=kind, n_train=len(ytr), n_test=len(yte),
                   accuracy=accuracy_score(yte, p), mcc=matthews_corrcoef(yte, p), f1=f1_score(yte, p),
                   top_class_share=float(np.bincount(p).max() / len(p)),
                   majority_share=float(np.bincount(yte).max() / len(yte)))
        rows.append(row); print(json.dumps(row), flush=True)
out.write_text(json.dumps(rows, indent=1) + "\n")
