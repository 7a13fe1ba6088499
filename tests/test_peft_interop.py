"""hifi_nb.interop on tiny random-init models: peft's Super-Tuning trains exactly the Linear-weight entries a
HiFi / SAM model trains, the same AdamW steps (no weight decay) give the same merged weights, the adapter
survives save_pretrained -> PeftModel.from_pretrained -> merge_and_unload, and what peft cannot hold is refused."""
import copy
import json
import logging

import pytest
import torch
from torch import nn

from hifi_nb.interop import (PeftExportError, common_sparsity, peft_indices, peft_selection, to_peft,
                             to_peft_config)
from hifi_nb.models import is_task_head, load_model, tiny_config
from hifi_nb.tuning import TuningError, merge, prepare, random_batches, train_steps

peft = pytest.importorskip("peft")
from peft import PeftModel, get_peft_model  # noqa: E402

H, DH = 4, 8
D = H * DH
_CACHE = {}


def tiny(seed=0, model_type="bert"):
    "A fresh copy of a tiny random-init model without dropout (both paths compute the same function)."
    key = (seed, model_type)
    if key not in _CACHE:
        cfg = tiny_config(model_type, layers=2, heads=H, head_dim=DH, vocab_size=300,
                          hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        _CACHE[key] = load_model("minilm-l6", "rte", config=cfg, seed=seed)[0]
    return copy.deepcopy(_CACHE[key])


@pytest.fixture(scope="module")
def batches():
    return random_batches(tiny(), n=2, batch_size=4, length=12, seed=3)


def backbone_linears(model):
    return [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and not is_task_head(f"{n}.weight", model)]


def changed(trained: dict, base) -> dict:
    "Per backbone Linear: sorted flat indices of the weight entries that differ from `base`."
    sd = base.state_dict()
    out = {n: (trained[f"{n}.weight"] != sd[f"{n}.weight"]).reshape(-1).nonzero().flatten() for n in backbone_linears(base)}
    return {n: v for n, v in out.items() if v.numel()}


def assert_same(a: dict, b: dict):
    assert sorted(a) == sorted(b)
    for n in a: assert torch.equal(a[n], b[n]), n


def exported(model, sel):
    "hifi_nb's trainable parameters that peft holds too (Linear-weight entries, by their checkpoint names; head)."
    names = {f"{m}.{p}" for m in sel.indices for p in ("weight_part", "parametrizations.weight.0.values")}
    return [p for n, p in model.named_parameters() if p.requires_grad and (n in names or is_task_head(n, model))]


def both_steps(model, pm, batches, params=None):
    train_steps(model, batches, steps=3, lr=1e-3, weight_decay=0.0, params=params)
    train_steps(pm, batches, steps=3, lr=1e-3, weight_decay=0.0)
    return merge(model).state_dict(), copy.deepcopy(pm).merge_and_unload().state_dict()


def max_diff(a: dict, b: dict) -> float:
    assert sorted(a) == sorted(b)
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


def logits(model, batch):
    model.eval()
    with torch.no_grad(): return model(**{k: v for k, v in batch.items() if k != "labels"}).logits


def head_rows(heads, part, layer):
    return sorted(r * D + c for l, h in heads if l == layer for r in range(DH * h, DH * h + DH) for c in range(D))


def test_hifi_k_per_layer_entries_training_and_round_trip(batches, tmp_path, caplog):
    m = prepare(tiny(), "hifi", batches=batches, k=2)
    heads = m.hifi_tuning.selection["heads"]
    with pytest.raises(PeftExportError, match="96 bias"): peft_selection(m)
    with caplog.at_level(logging.WARNING, "hifi_nb.interop"): pm = to_peft(m, strict=False)
    assert "left out of the peft export" in caplog.text
    expected = {f"bert.encoder.layer.{l}.attention.self.{p}": torch.tensor(head_rows(heads, p, l))
                for l in (0, 1) for p in ("query", "key", "value")}
    assert_same(peft_indices(pm), expected)
    sel = peft_selection(m, strict=False)
    assert sel.left_out == {f"{n}.bias": 2 * DH for n in expected} and sel.modules_to_save == ["classifier"]
    assert sum(p.numel() for p in pm.parameters() if p.requires_grad) == 6 * 2 * DH * D + 2 * D + 2
    # the same steps, hifi_nb's bias entries held fixed: the same merged model
    a, b = both_steps(m, pm, batches, params=exported(m, sel))
    assert_same(changed(a, tiny()), expected)
    assert_same(changed(b, tiny()), expected)
    assert max_diff(a, b) < 1e-6
    pm.save_pretrained(tmp_path)
    conf = json.loads((tmp_path / "adapter_config.json").read_text())
    assert conf["peft_type"] == "SUPERTUNING" and conf["sparsity"] == sel.sparsity
    loaded = PeftModel.from_pretrained(tiny(), tmp_path)
    assert_same(peft_indices(loaded), expected)
    x = random_batches(tiny(), n=1, seed=9)[0]
    plain = loaded.merge_and_unload()
    assert torch.equal(logits(plain, x), logits(pm, x))
    assert (logits(plain, x) - logits(merge(m), x)).abs().max() < 1e-6


def test_random_heads_output_columns_and_pooler(batches):
    r = prepare(tiny(), "random_heads", k=1, seed=2, include_output=True, train_pooler=True)
    sel = peft_selection(r, strict=False)
    assert sel.modules_to_save == ["bert.pooler.dense", "classifier"]
    for l, h in r.hifi_tuning.selection["heads"]:
        cols = sorted(i * D + c for i in range(D) for c in range(DH * h, DH * h + DH))
        assert torch.equal(sel.indices[f"bert.encoder.layer.{l}.attention.output.dense"], torch.tensor(cols))
    pm = to_peft(r, strict=False)
    a, b = both_steps(r, pm, batches, params=exported(r, sel))
    assert_same(changed(b, tiny()), sel.indices)
    assert max_diff(a, b) < 1e-6


def test_sam_per_tensor_linear_part(batches):
    s = prepare(tiny(), "sam", batches=batches, density=0.05)
    rec = s.hifi_tuning
    with pytest.raises(PeftExportError, match="LayerNorm"): to_peft(s)
    sel = peft_selection(s, strict=False)
    lin = set(backbone_linears(tiny()))
    is_lin = lambda n: n.endswith(".weight") and n.rpartition(".")[0] in lin
    assert_same(sel.indices, {n.rpartition(".")[0]: v for n, v in rec.indices.items() if is_lin(n)})
    assert sel.left_out == {n: int(v.numel()) for n, v in rec.indices.items() if not is_lin(n)}
    assert any("embeddings" in n for n in sel.left_out) and any(n.endswith(".bias") for n in sel.left_out)
    pm = to_peft(s, strict=False)
    a, b = both_steps(s, pm, batches, params=exported(s, sel))
    assert_same(changed(a, tiny()), sel.indices)
    assert_same(changed(b, tiny()), sel.indices)
    assert max_diff(a, b) < 1e-6


def test_trained_linear_mask_exported_onto_base(batches, tmp_path):
    s = prepare(tiny(), "sam", batches=batches, density=0.05)
    lin = set(backbone_linears(tiny()))
    counts = {n: int(v.numel()) for n, v in s.hifi_tuning.indices.items() if n.endswith(".weight") and n.rpartition(".")[0] in lin}
    rm = prepare(tiny(), "random_mask", counts=counts, seed=1)
    train_steps(rm, batches, steps=3, lr=1e-2, weight_decay=0.1)
    pm = to_peft(rm, base=tiny())                                  # strict: a Linear-weight-only mask passes
    assert max_diff(merge(rm).state_dict(), copy.deepcopy(pm).merge_and_unload().state_dict()) < 1e-6
    pm.save_pretrained(tmp_path)
    back = PeftModel.from_pretrained(tiny(), tmp_path).merge_and_unload()
    x = random_batches(tiny(), n=1, seed=9)[0]
    assert (logits(back, x) - logits(merge(rm), x)).abs().max() < 1e-6
    # the config alone places the entries by magnitude: right counts, other entries
    magnitude = peft_indices(get_peft_model(tiny(), to_peft_config(rm)))
    assert {n: v.numel() for n, v in magnitude.items()} == {n: v.numel() for n, v in peft_indices(pm).items()}
    assert any(not torch.equal(magnitude[n], peft_indices(pm)[n]) for n in magnitude)
    with pytest.raises(PeftExportError, match="fingerprint"): to_peft(rm, base=tiny(seed=1))


@pytest.mark.parametrize("method,why", [("full", "densely"), ("bitfit", "biases only"), ("lora", "low-rank"),
                                        ("adapter", "bottleneck")])
def test_methods_peft_cannot_express(method, why):
    with pytest.raises(PeftExportError, match=why): to_peft_config(prepare(tiny(), method), strict=False)


def test_models_and_selections_peft_cannot_express(batches):
    assert issubclass(PeftExportError, TuningError)
    with pytest.raises(PeftExportError, match="not prepared with hifi_nb"): to_peft(tiny())
    with pytest.raises(PeftExportError, match="different number of heads per layer"):
        to_peft_config(prepare(tiny(), "hifi", heads=[(0, 1), (1, 2), (1, 3)]), strict=False)
    with pytest.raises(PeftExportError, match="one sparsity for all"):
        to_peft_config(prepare(tiny(), "sam", batches=batches, density=0.05, scope="global"), strict=False)
    with pytest.raises(PeftExportError, match="bias"): to_peft_config(prepare(tiny(), "hifi", heads=[(0, 1), (1, 2)]))


def test_common_sparsity_bert_base_shapes():
    shapes = [768 * 768, 768 * 3072, 3072 * 768]
    for p in (0.001, 0.005, 0.01, 0.05):
        numels = {f"w{i}": n for i, n in enumerate(shapes)}
        counts = {k: int(p * n) for k, n in numels.items()}
        s = common_sparsity(counts, numels)
        assert {k: int(numels[k] * (1 - s)) for k in counts} == counts
    assert common_sparsity({"a": 10, "b": 20}, {"a": 1024, "b": 1024}) is None
    assert common_sparsity({"a": 1024}, {"a": 1024}) == 0.0
