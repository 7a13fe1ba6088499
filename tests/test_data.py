"""Loading the real GLUE files and SAM splits: official sizes, label balance, and an independent re-read."""
import csv
import json
import sys

import numpy as np
import pytest

from hifi_nb.data import DataError, load_task, read_glue_tsv, tokenize_task
from hifi_nb.models import load_model

# (train, dev) sizes of the official GLUE release (MRPC: 3,668 training pairs, the pair "Officials at
# Brandeis said ..." included; see test_mrpc_matches_sam_splits).
GLUE_SIZES = {"cola": (8551, 1043), "sst2": (67349, 872), "mrpc": (3668, 408), "rte": (2490, 277),
              "stsb": (5749, 1500), "wnli": (635, 71)}
GLUE_FOLDERS = {"cola": "CoLA", "sst2": "SST-2", "mrpc": "MRPC", "rte": "RTE", "stsb": "STS-B", "wnli": "WNLI"}
SAM_SIZES = {"cola": (7695, 856, 1043), "stsb": (5166, 583, 1500), "mrpc": (3294, 374, 408),
             "rte": (2241, 249, 277), "cb": (225, 25, 56), "copa": (360, 40, 100), "wsc": (495, 59, 104)}


def _independent_labels(path, col, header=True):
    "Re-read a GLUE tsv with plain csv (no hifi_nb code) and return the raw label column."
    csv.field_size_limit(sys.maxsize)
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    if header:
        rows = rows[1:]
    return [r[col] for r in rows if r]


@pytest.mark.parametrize("task", list(GLUE_SIZES))
def test_glue_sizes_and_labels(task, glue_dir):
    dd = load_task(task, glue_dir)
    assert (len(dd["train"]), len(dd["validation"])) == GLUE_SIZES[task]
    assert set(dd["train"].column_names) == {"text_a", "text_b", "label"}
    for split, fname in (("train", "train.tsv"), ("validation", "dev.tsv")):
        col = {"cola": 1, "mrpc": 0}.get(task, -1)
        raw = _independent_labels(glue_dir / GLUE_FOLDERS[task] / fname, col, task != "cola")
        ours = dd[split]["label"]
        if task == "stsb":
            np.testing.assert_allclose(ours, np.asarray(raw, float), rtol=1e-6)
            assert 0 <= min(ours) and max(ours) <= 5
        else:
            names = dd[split].features["label"].names
            # text labels map through the registry's names; numeric ones are the ids themselves
            decoded = [names[i] if not raw[0].isdigit() else str(i) for i in ours]
            assert decoded == raw
    if task in ("sst2", "cola", "mrpc", "wnli", "stsb"):
        assert all(b is None for b in dd["train"]["text_b"][:50]) == (task in ("sst2", "cola"))


def test_known_label_counts(glue_dir):
    # published class balance of the official sets
    assert np.bincount(load_task("sst2", glue_dir)["train"]["label"]).tolist() == [29780, 37569]
    assert np.bincount(load_task("cola", glue_dir)["train"]["label"]).tolist() == [2528, 6023]
    assert np.bincount(load_task("rte", glue_dir)["validation"]["label"]).tolist() == [146, 131]


@pytest.mark.parametrize("task", list(SAM_SIZES))
def test_sam_split_sizes(task, sam_dir):
    dd = load_task(task, sam_dir, protocol="sam")
    assert tuple(len(dd[s]) for s in ("train", "validation", "test")) == SAM_SIZES[task]
    # labels agree with an independent json read of the same file
    raw = [json.loads(line)["label"] for line in open(sam_dir / task / "train.jsonl") if line.strip()]
    ours = dd["train"]["label"]
    if task == "stsb":
        np.testing.assert_allclose(ours, raw, rtol=1e-6)
    else:
        names = dd["train"].features["label"].names
        if task in ("rte", "cb"):          # text labels -> registry order
            expected = [names.index(r) for r in raw]
        elif task == "wsc":                # booleans -> ("False", "True")
            expected = [int(bool(r)) for r in raw]
        else:                              # "0"/"1" strings or ints
            expected = [int(r) for r in raw]
        assert ours == expected
        assert len(set(ours)) == (3 if task == "cb" else 2)


def test_mrpc_matches_sam_splits(glue_dir, sam_dir):
    "The GLUE MRPC training file and the SAM splits (train + val) hold the same 3,668 official pairs."
    glue = load_task("mrpc", glue_dir)["train"]
    sam = load_task("mrpc", sam_dir, protocol="sam")
    g = set(zip(glue["text_a"], glue["text_b"]))
    s = set(zip(list(sam["train"]["text_a"]) + list(sam["validation"]["text_a"]),
                list(sam["train"]["text_b"]) + list(sam["validation"]["text_b"])))
    assert len(s) == 3668 and g == s
    assert any(a.startswith("Officials at Brandeis") for a, _ in g)


def test_sam_protocol_from_glue_is_seeded_and_disjoint(glue_dir):
    a = load_task("sst2", glue_dir, protocol="sam", seed=0)
    b = load_task("sst2", glue_dir, protocol="sam", seed=0)
    c = load_task("sst2", glue_dir, protocol="sam", seed=1)
    assert a["validation"]["text_a"] == b["validation"]["text_a"] != c["validation"]["text_a"]
    assert len(a["validation"]) == round(0.1 * 67349) and len(a["test"]) == 872
    # train + validation is exactly the original training set (as a multiset: SST-2 repeats some phrases)
    from collections import Counter
    full = load_task("sst2", glue_dir)["train"]
    assert Counter(list(a["train"]["text_a"]) + list(a["validation"]["text_a"])) == Counter(full["text_a"])


def test_errors(tmp_path, glue_dir, monkeypatch):
    with pytest.raises(KeyError, match="valid tasks"):
        load_task("nope", glue_dir)
    with pytest.raises(DataError, match="SuperGLUE task"):
        load_task("cb", glue_dir)
    bad = tmp_path / "CoLA"
    bad.mkdir()
    (bad / "train.tsv").write_text("gj04\t1\t\tfine sentence\ngj04\t7\t\tbad label\n")
    with pytest.raises(DataError, match=r"train.tsv:2: label '7'"):
        read_glue_tsv("cola", bad / "train.tsv")
    # no local data and no network: the message names both ways to provide data
    monkeypatch.delenv("HIFI_GLUE_DIR", raising=False)
    monkeypatch.delenv("HIFI_SAM_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(DataError, match="HIFI_GLUE_DIR.*HIFI_SAM_DIR"):
        load_task("rte")


def test_tokenize_pairs_and_truncation(glue_dir):
    _, tok = load_model("minilm-l6", "rte")
    ds = load_task("rte", glue_dir)["validation"].select(range(16))
    enc = tokenize_task(ds, tok, "rte", max_length=32)
    assert set(enc.column_names) >= {"input_ids", "attention_mask", "labels"}
    assert max(len(x) for x in enc["input_ids"]) == 32
    # two segments: token_type_ids contain 1s for the hypothesis
    assert all(1 in t for t in enc["token_type_ids"])


def test_hub_path_with_a_stand_in_for_load_dataset(monkeypatch):
    "The hub branch maps each hub schema onto the common columns (load_dataset replaced: no network here)."
    from datasets import Dataset, DatasetDict
    import datasets

    hub = {
        ("nyu-mll/glue", "rte"): {"sentence1": ["p1", "p2"], "sentence2": ["h1", "h2"], "label": [0, 1], "idx": [0, 1]},
        ("nyu-mll/glue", "sst2"): {"sentence": ["good", "bad"], "label": [1, 0], "idx": [0, 1]},
        ("nyu-mll/glue", "qqp"): {"question1": ["q1", "q2"], "question2": ["r1", "r2"], "label": [0, 1], "idx": [0, 1]},
        ("super_glue", "cb"): {"premise": ["p1", "p2"], "hypothesis": ["h1", "h2"], "label": [2, 0], "idx": [0, 1]},
        ("super_glue", "copa"): {"premise": ["p1", "p2"], "question": ["cause", "effect"], "choice1": ["a", "b"],
                                 "choice2": ["c", "d"], "label": [1, 0], "idx": [0, 1]},
        ("super_glue", "wsc.fixed"): {"text": ["Bob saw it.", "x"], "span1_index": [0, 0], "span2_index": [2, 0],
                                      "span1_text": ["Bob", "x"], "span2_text": ["it", "x"], "label": [1, 0], "idx": [0, 1]},
    }
    calls = []

    def fake_load_dataset(name, config):
        calls.append((name, config))
        d = Dataset.from_dict(hub[(name, config)])
        return DatasetDict({"train": d, "validation": d})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    for var in ("HIFI_GLUE_DIR", "HIFI_SAM_DIR"):
        monkeypatch.delenv(var, raising=False)
    rte = load_task("rte")
    assert rte["train"]["text_a"] == ["p1", "p2"] and rte["train"]["text_b"] == ["h1", "h2"]
    assert list(rte["train"]["label"]) == [0, 1]
    assert load_task("sst2")["train"]["text_b"] == [None, None]
    assert load_task("qqp")["validation"]["text_b"] == ["r1", "r2"]
    cb = load_task("cb", protocol="sam", seed=0)            # SAM protocol made from the hub's train/validation
    assert set(cb) == {"train", "validation", "test"} and cb["test"]["text_b"] == ["h1", "h2"]
    copa = load_task("copa")
    assert copa["train"]["choice2"] == ["c", "d"] and copa["train"]["question"] == ["cause", "effect"]
    wsc = load_task("wsc")
    assert wsc["train"]["text_b"][0] == "it refers to Bob"
    assert ("super_glue", "wsc.fixed") in calls
