"""Integration checks of hifi_nb.tuning / hifi_nb.sam on tiny random-init models: exact freezing under AdamW
with weight decay, closed-form trainable counts, save -> load -> same logits, merge -> same logits, SAM masks
against a brute-force top-p, and clear errors on bad input."""
import copy
import math
from fractions import Fraction

import pytest
import torch

from hifi_nb.models import backbone_parameters, is_pooler, is_task_head, load_model, tiny_config
from hifi_nb.sam import accumulate_gradients, sam_mask, sam_scores
from hifi_nb.tuning import (METHODS, DeltaMismatch, TuningError, UnknownMethod, inner_model, load_delta, merge,
                            prepare, random_batches, save_delta, train_steps, trainable_report)

L, H, DH = 2, 4, 8
D = H * DH
HEADS = [(0, 1), (0, 2), (1, 0), (1, 3)]          # k = 2 per layer


_CACHE = {}


def tiny(seed=0, model_type="bert", layers=L):
    "A fresh copy of a tiny random-init model (built once per seed/architecture)."
    key = (seed, model_type, layers)
    if key not in _CACHE:
        _CACHE[key], _ = load_model("minilm-l6", "rte", seed=seed,
                                    config=tiny_config(model_type, layers=layers, heads=H, head_dim=DH, vocab_size=300))
    return copy.deepcopy(_CACHE[key])


@pytest.fixture(scope="module")
def batches():
    return random_batches(tiny(), n=3, batch_size=4, length=12, seed=3)


@pytest.fixture(scope="module")
def stats(batches):
    return accumulate_gradients(tiny(), batches, dropout=False)


def configs(stats):
    return {
        "full": {}, "bitfit": {},
        "hifi": dict(heads=HEADS), "hifi_out": dict(heads=HEADS, include_output=True),
        "random_heads": dict(k=2, seed=1),
        "sam": dict(stats=stats, density=0.05), "sam_global": dict(stats=stats, density=0.05, scope="global"),
        "random_mask": dict(density=0.05, seed=2), "lora": {},
    }


CASES = ["full", "bitfit", "hifi", "hifi_out", "random_heads", "sam", "sam_global", "random_mask", "lora"]


def method_of(case): return {"hifi_out": "hifi", "sam_global": "sam"}.get(case, case)


def logits(model, batch):
    model.eval()
    with torch.no_grad():
        return model(**batch).logits


def head_numel(model):
    return sum(p.numel() for n, p in model.named_parameters() if is_task_head(n, model))


def test_registry_has_every_method():
    assert set(METHODS) == {"full", "bitfit", "hifi", "random_heads", "sam", "random_mask", "lora", "adapter"}


@pytest.mark.parametrize("case", CASES)
def test_frozen_bit_identical_tuned_changed(case, stats, batches):
    m = prepare(tiny(), method_of(case), **configs(stats)[case])
    inner = inner_model(m)
    before = {n: p.detach().clone() for n, p in inner.named_parameters()}
    train_steps(m, batches, steps=3, lr=1e-2, weight_decay=0.1)     # AdamW over *all* parameters
    n_trainable = 0
    for n, p in inner.named_parameters():
        if p.requires_grad:
            n_trainable += 1
            assert not torch.equal(p.detach(), before[n]), f"{case}: tuned tensor {n} did not change"
        else:
            assert torch.equal(p.detach(), before[n]), f"{case}: frozen tensor {n} moved"
    assert n_trainable > 0


def _allowed_diff(case, m, name, shape):
    "Boolean mask of entries of the merged tensor `name` that the method may change (None: anything)."
    rec = m.hifi_tuning
    if case == "full" or case == "lora" or is_task_head(name, inner_model(m)): return None
    allowed = torch.zeros(shape, dtype=torch.bool)
    if case == "bitfit":
        if name.endswith(".bias"): allowed[:] = True
        return allowed
    if method_of(case) in ("hifi", "random_heads"):
        for l, h in rec.selection["heads"]:
            rows = slice(h * DH, (h + 1) * DH)
            for part in ("query", "key", "value"):
                if name.startswith(f"bert.encoder.layer.{l}.attention.self.{part}."): allowed[rows] = True
            if rec.selection["include_output"] and name == f"bert.encoder.layer.{l}.attention.output.dense.weight":
                allowed[:, rows] = True
        return allowed
    idx = rec.indices.get(name)
    if idx is not None: allowed.view(-1)[idx] = True
    return allowed


@pytest.mark.parametrize("case", CASES)
def test_merged_weights_differ_only_inside_the_selection(case, stats, batches):
    base = tiny()
    m = prepare(tiny(), method_of(case), **configs(stats)[case])
    train_steps(m, batches, steps=3)
    merged = merge(m)
    changed_inside = 0
    for n, p0 in base.state_dict().items():
        diff = merged.state_dict()[n] != p0
        allowed = _allowed_diff(case, m, n, p0.shape)
        if allowed is None: continue
        assert not (diff & ~allowed).any(), f"{case}: {n} changed outside the selection"
        changed_inside += int((diff & allowed).sum())
    if case not in ("full", "lora"): assert changed_inside > 0


def test_trainable_counts_closed_form(stats):
    base = tiny()
    head = head_numel(base)
    pooler = sum(p.numel() for n, p in base.named_parameters() if is_pooler(n, base))
    total = sum(p.numel() for p in base.parameters())
    assert pooler == D * D + D
    backbone = {n: p.numel() for n, p in backbone_parameters(base).items()}
    N = sum(backbone.values())
    p = 0.05
    floor = lambda n: math.floor(Fraction(5, 100) * n)
    expect = {
        "full": sum(x.numel() for x in base.parameters()) - head,
        "bitfit": sum(v for n, v in backbone.items() if n.endswith(".bias")),
        "hifi": L * 2 * 3 * (DH * D + DH),
        "hifi_out": L * 2 * 3 * (DH * D + DH) + L * 2 * D * DH,
        "random_heads": L * 2 * 3 * (DH * D + DH),
        "sam": sum(floor(v) for v in backbone.values()),
        "sam_global": floor(N),
        "random_mask": sum(floor(v) for v in backbone.values()),
        "lora": L * 2 * (8 * D + D * 8),
    }
    for case, cfg in configs(stats).items():
        rep = trainable_report(prepare(tiny(), method_of(case), **cfg))
        assert rep["backbone_trainable"] == expect[case], case
        h = head if case == "full" else head - pooler    # the pre-trained pooler trains only in full
        assert rep["head"] == h and rep["trainable"] == expect[case] + h, case
        assert rep["backbone"] == N
        assert rep["backbone_percent"] == pytest.approx(100 * expect[case] / N)
        assert rep["percent"] == pytest.approx(100 * (expect[case] + h) / total)
    assert floor(N) == math.floor(p * N + 1e-9)


@pytest.mark.parametrize("case", CASES)
def test_save_load_merge_same_logits(case, stats, batches, tmp_path):
    m = prepare(tiny(), method_of(case), **configs(stats)[case])
    train_steps(m, batches, steps=2)
    want = logits(m, batches[0])
    path = save_delta(m, tmp_path / case)
    loaded = load_delta(tiny(), tmp_path / case)
    torch.testing.assert_close(logits(loaded, batches[0]), want, rtol=0, atol=1e-6)
    merged = merge(m)
    torch.testing.assert_close(logits(merged, batches[0]), want, rtol=0, atol=1e-5)
    # merging a copy leaves the tuned model itself intact (parametrized classes are not shared)
    torch.testing.assert_close(logits(m, batches[0]), want, rtol=0, atol=0)
    fresh = tiny()
    assert {type(x) for x in merged.modules()} <= {type(x) for x in fresh.modules()}
    assert set(merged.state_dict()) == set(fresh.state_dict())
    assert all(p.requires_grad for p in merged.parameters())
    # the delta holds only the tuned tensors: much smaller than the full weights unless method is full
    full_bytes = sum(p.numel() * 4 for p in fresh.parameters())
    if case != "full": assert path.stat().st_size < 0.5 * full_bytes


def test_load_delta_mismatch_names_both(stats, batches, tmp_path):
    m = prepare(tiny(), "hifi", heads=HEADS)
    save_delta(m, tmp_path)
    with pytest.raises(DeltaMismatch, match="fingerprint"): load_delta(tiny(seed=1), tmp_path)
    with pytest.raises(DeltaMismatch, match=r"model type 'bert'.*'distilbert'"): load_delta(tiny(model_type="distilbert"), tmp_path)
    with pytest.raises(DeltaMismatch, match=r"layout"): load_delta(tiny(layers=3), tmp_path)
    other = tiny(); other.hifi_model_id = "roberta-base"     # the same weights under another name load
    assert load_delta(other, tmp_path).hifi_tuning.method == "hifi"
    with pytest.raises(FileNotFoundError): load_delta(tiny(), tmp_path / "nothing")


def test_bad_input_errors(stats, batches):
    with pytest.raises(UnknownMethod, match="full, bitfit, lora, adapter, hifi, random_heads, sam, random_mask"): prepare(tiny(), "adapters")
    with pytest.raises(TuningError, match="needs heads="): prepare(tiny(), "hifi")
    with pytest.raises(TuningError, match="not both"): prepare(tiny(), "hifi", heads=HEADS, batches=batches)
    with pytest.raises(TuningError, match="outside"): prepare(tiny(), "hifi", heads=[(0, 4)])
    with pytest.raises(TuningError, match="duplicates"): prepare(tiny(), "hifi", heads=[(0, 1), (0, 1)])
    with pytest.raises(TuningError, match="1..4"): prepare(tiny(), "random_heads", k=0)
    with pytest.raises(TuningError, match="density"): prepare(tiny(), "random_mask", density=1.5)
    with pytest.raises(TuningError, match="selects no backbone entry"): prepare(tiny(), "random_mask", density=1e-7)
    with pytest.raises(TuningError, match="needs batches="): prepare(tiny(), "sam")
    with pytest.raises(TuningError, match="scope"): prepare(tiny(), "sam", stats=stats, scope="layer")
    with pytest.raises(TuningError, match="does not take"): prepare(tiny(), "lora", heads=HEADS)
    with pytest.raises(TuningError, match="already prepared"): prepare(prepare(tiny(), "bitfit"), "full")
    with pytest.raises(TuningError, match="not prepared"): save_delta(tiny(), "/tmp/never")


def test_hifi_from_batches_uses_score_heads(batches):
    pytest.importorskip("hifi_nb.heads")
    m = prepare(tiny(), "hifi", batches=batches, k=1)
    heads = m.hifi_tuning.selection["heads"]
    assert sorted(l for l, _ in heads) == list(range(L))           # one head per layer
    assert trainable_report(m)["backbone_trainable"] == L * 1 * 3 * (DH * D + DH)


def _brute_top(scores, density, scope):
    keys = list(scores)
    items = [(-float(s), t, i) for t, k in enumerate(keys) for i, s in enumerate(scores[k].reshape(-1).tolist())]
    frac = Fraction(repr(density))
    if scope == "per_tensor":
        return {k: sorted(i for _, _, i in sorted(x for x in items if x[1] == t)[: math.floor(frac * scores[k].numel())])
                for t, k in enumerate(keys)}
    top = sorted(items)[: math.floor(frac * len(items))]
    return {k: sorted(i for _, t, i in top if keys[t] == k) for k in keys}


@pytest.mark.parametrize("score", ["grad_sq", "grad_sum_abs", "fisher"])
def test_sam_mask_equals_brute_force(stats, score):
    scores = sam_scores(stats, score)
    for scope in ("per_tensor", "global"):
        mask = sam_mask(scores, 0.03, scope)
        assert {k: v.tolist() for k, v in mask.items()} == _brute_top(scores, 0.03, scope), (score, scope)
    pt, gl = sam_mask(scores, 0.03, "per_tensor"), sam_mask(scores, 0.03, "global")
    assert {k: len(v) for k, v in pt.items()} != {k: len(v) for k, v in gl.items()}


def test_sam_prepare_selects_the_mask_and_keeps_theta0(batches):
    model = tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    m = prepare(model, "sam", batches=batches, density=0.05, dropout=False)
    st = accumulate_gradients(tiny(), batches, dropout=False)
    want = {k: v for k, v in sam_mask(sam_scores(st, "grad_sq"), 0.05).items() if v.numel()}
    assert {k: v.tolist() for k, v in m.hifi_tuning.indices.items()} == {k: v.tolist() for k, v in want.items()}
    assert all(torch.equal(before[k], v) for k, v in merge(m).state_dict().items())


@pytest.mark.parametrize("method", ["sam", "random_mask"])
def test_sparse_entry_layers_match_parametrized_reference(method, stats, batches):
    "Whole model, float64: the sparse-entry layers give the parametrised reference's logits and gradients."
    from torch.nn.utils import parametrize
    from hifi_nb.tuning import SparseEntryEmbedding, SparseEntryLinear, attach_sparse_values
    cfg = dict(stats=stats, density=0.05) if method == "sam" else dict(density=0.05, seed=2)
    m = prepare(tiny().double(), method, **cfg)
    assert any(isinstance(x, SparseEntryLinear) for x in m.modules())
    assert any(isinstance(x, SparseEntryEmbedding) for x in m.modules())
    ref = tiny().double()
    for name, idx in m.hifi_tuning.indices.items():
        mod, _, attr = name.rpartition(".")
        attach_sparse_values(ref.get_submodule(mod), attr, idx)
    ref.requires_grad_(False)
    for n, p in ref.named_parameters():
        if n.endswith(".values") or is_task_head(n, ref) and not is_pooler(n, ref): p.requires_grad_(True)
    g = torch.Generator().manual_seed(0)
    assert {n for n, p in m.named_parameters() if p.requires_grad} == {n for n, p in ref.named_parameters() if p.requires_grad}
    refp = dict(ref.named_parameters())
    with torch.no_grad():   # move the tuned values away from θ0, identically in both
        for n, p in m.named_parameters():
            if p.requires_grad: p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype)); refp[n].copy_(p)
    b = {k: v for k, v in batches[0].items()}
    m.train(); ref.train()
    torch.manual_seed(5); lm = m(**b); lm.loss.backward()
    torch.manual_seed(5); lr = ref(**b); lr.loss.backward()
    torch.testing.assert_close(lm.logits, lr.logits, rtol=0, atol=1e-10)
    grads_ref = {n: p.grad for n, p in ref.named_parameters() if p.requires_grad}
    for n, p in m.named_parameters():
        if p.requires_grad: torch.testing.assert_close(p.grad, grads_ref[n], rtol=0, atol=1e-10, msg=n)
