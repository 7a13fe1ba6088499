"""The GPU and multi-process paths, checked on CPUs: inputs reach the model's device in every function that runs
the model; the CuPy code path (NumPy standing in for CuPy) against the float64 reference; GPU backends asked for
by name fail loudly; tools/gpu_check.py end to end in its CPU dry run; torchrun with 2 gloo processes."""
import json
import os
import subprocess
import contextlib
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from hifi_nb import heads
from hifi_nb.heads import INFO_MEASURES, BackendUnavailable, head_statistics, reference_statistics, resolve_backend
from hifi_nb.models import load_model, tiny_config
from hifi_nb.tuning import random_batches

ROOT = Path(__file__).resolve().parents[1]
GLUE = Path(os.environ.get("HIFI_GLUE_DIR") or ROOT.parent / "shared" / "glue")
needs_data = pytest.mark.skipif(not (GLUE / "SST-2" / "train.tsv").exists(), reason=f"no SST-2 files under {GLUE}")
TINY_RUN = dict(model="tiny-bert", max_train_samples=32, max_eval_samples=16, n_score_examples=16, score_batch_size=8,
                sam_batches=3, sam_batch_size=8, batch_size=8, max_length=32, epochs=1, eval_test=False,
                disable_tqdm=True, data_dir=str(GLUE), protocol="glue")


def tiny(seed=0, heads_=4):
    return load_model("minilm-l6", "sst2", config=tiny_config(layers=2, heads=heads_, head_dim=8), seed=seed)[0]


# ------------------------------------------------------------------------------------------ device handling
class Seen(Exception): "Raised by the recording hook: the forward got as far as the model's entry."


def record_inputs(model, log: list, stop: bool = False):
    "A forward pre-hook on `model` noting the device of every tensor input and of the model's parameters."
    def hook(mod, args, kwargs):
        devs = {str(v.device) for v in list(args) + list(kwargs.values()) if torch.is_tensor(v)}
        log.append(dict(inputs=devs, params=str(next(mod.parameters()).device), training=mod.training,
                        grad=torch.is_grad_enabled()))
        if stop: raise Seen
    return model.register_forward_pre_hook(hook, with_kwargs=True)


def test_every_function_moves_inputs_to_the_model_device():
    "A model on the `meta` device: any function that hands it CPU tensors is caught (the hook stops each call)."
    from hifi_nb.efficiency import forward_pass
    from hifi_nb.sam import accumulate_gradients
    from hifi_nb.tuning import prepare, train_steps
    from hifi_nb.heads import score_heads, time_scoring
    batches = random_batches(tiny(), n=2, batch_size=4, length=12)          # CPU tensors, with labels
    calls = {
        "head_statistics": lambda m: head_statistics(m, batches),
        "score_heads": lambda m: score_heads(m, batches),
        "reference_statistics": lambda m: reference_statistics(m, batches),
        "time_scoring": lambda m: time_scoring(m, batches, repeats=1),
        "accumulate_gradients": lambda m: accumulate_gradients(m, batches),
        "prepare(hifi, batches=)": lambda m: prepare(m, "hifi", batches=batches, k=1),
        "prepare(sam, batches=)": lambda m: prepare(m, "sam", batches=batches),
        "train_steps": lambda m: train_steps(m, batches, steps=1),
        "efficiency.forward_pass": lambda m: forward_pass(m, [{k: v for k, v in b.items() if k != "labels"} for b in batches]),
    }
    for name, call in calls.items():
        model, log = tiny().to("meta"), []
        record_inputs(model, log, stop=True)
        with pytest.raises(Seen):
            call(model)
        assert log and log[0]["inputs"] == {"meta"}, (name, log)


@needs_data
@pytest.mark.parametrize("method", ["hifi", "sam"])
def test_run_selects_on_the_accelerator(monkeypatch, method):
    "run() moves the model to its training device before scoring heads / summing SAM gradients (here: `meta`)."
    import hifi_nb.train as T
    log, build = [], T.build_model
    def built(*a, **k):
        net, tok = build(*a, **k)
        record_inputs(net, log, stop=True)
        return net, tok
    monkeypatch.setattr(T, "build_model", built)
    monkeypatch.setattr(T, "_device", lambda: torch.device("meta"))
    with pytest.raises(Seen):
        T.run("sst2", method, **TINY_RUN)
    assert log[0]["inputs"] == {"meta"} and log[0]["params"] == "meta"
    assert log[0]["training"] == (method == "sam")                      # scoring in eval mode, SAM with dropout


@needs_data
@pytest.mark.parametrize("method", ["hifi", "sam"])
def test_every_forward_of_a_run_gets_inputs_on_the_model_device(monkeypatch, method):
    "Record the device of every input over a whole run(): selection, training and evaluation forwards."
    import hifi_nb.train as T
    log, build = [], T.build_model
    def built(*a, **k):
        net, tok = build(*a, **k)
        record_inputs(net, log)
        return net, tok
    monkeypatch.setattr(T, "build_model", built)
    rec = T.run("sst2", method, **TINY_RUN)
    assert rec.status == "ok"
    assert all(e["inputs"] == {e["params"]} for e in log), [e for e in log if e["inputs"] != {e["params"]}][:3]
    select = 2 if method == "hifi" else TINY_RUN["sam_batches"]             # 16 scoring examples in batches of 8
    train_steps, evals = 4, 1                                              # 32 examples / 8; 16 examples in one batch
    assert len(log) == select + train_steps + evals, len(log)
    phase = [(e["training"], e["grad"]) for e in log]
    assert phase[select:select + train_steps] == [(True, True)] * train_steps
    assert phase[-1] == (False, False)                                      # evaluation
    assert phase[:select] == ([(False, False)] * select if method == "hifi" else [(True, True)] * select)


# ------------------------------------------------------------------------------------------ backends
def fake_cupy():
    "NumPy under CuPy's name: the functions the CuPy kernels call have the same meaning in both."
    cp = types.ModuleType("cupy")
    for k in ("from_dlpack", "matmul", "float64", "float32", "ascontiguousarray", "diagonal", "sqrt", "where", "zeros"):
        setattr(cp, k, getattr(np, k))
    cp.linalg, cp.__version__ = np.linalg, "numpy-standin"
    return cp


@pytest.mark.parametrize("exact", [True, False])
def test_cupy_code_path_matches_the_float64_reference(monkeypatch, exact):
    model = tiny()
    batches = random_batches(model, n=3, batch_size=4, length=16, seed=1)      # padded batches
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy())
    monkeypatch.setattr(heads, "resolve_backend", lambda b, m=None: ("cupy", torch.device("cpu")))
    st = head_statistics(model, batches, backend="cupy", exact_spectrum=exact, all_correlations=True)
    only = head_statistics(model, batches, backend="cupy", exact_spectrum=exact)     # the pooled-only kernel
    monkeypatch.undo()
    ref = reference_statistics(model, batches)
    assert st.backend == "cupy" and st.n_examples == ref.n_examples == 12
    for k in INFO_MEASURES:
        np.testing.assert_allclose(st.info[k], ref.info[k], rtol=1e-4 if exact or k != "effective_rank" else 1e-3, err_msg=k)
    for v in ("pooled", "per_example"):
        np.testing.assert_allclose(st.corr_variants[v], ref.corr_variants[v], rtol=1e-4, atol=1e-7, err_msg=v)
    assert list(only.corr_variants) == ["pooled"]
    np.testing.assert_allclose(only.corr, ref.corr_variants["pooled"], rtol=1e-4, atol=1e-7)
    for k in INFO_MEASURES:
        np.testing.assert_allclose(only.info[k], st.info[k], rtol=1e-10, err_msg=k)


def test_gpu_backends_by_name_fail_loudly(monkeypatch):
    "Never a silent CPU fallback: each missing piece is named."
    model = tiny()
    assert resolve_backend("auto", model) == ("cpu", torch.device("cpu"))
    if not torch.cuda.is_available():
        for b in ("cuda", "cupy"):
            with pytest.raises(BackendUnavailable, match="needs a CUDA GPU") as e:
                head_statistics(model, random_batches(model), backend=b)
            assert ("no CUDA support" in str(e.value)) == (torch.version.cuda is None)
    # a GPU that torch sees, but no CuPy / a CuPy that cannot use it (e.g. the wrong cupy-cudaXXx wheel)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setitem(sys.modules, "cupy", None)                      # import cupy -> ImportError
    with pytest.raises(BackendUnavailable, match=r"needs CuPy, which is not installed.*pip install cupy-cuda13x"):
        resolve_backend("cupy")
    broken = types.ModuleType("cupy"); broken.__version__ = "14.0"
    broken.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(
        getDeviceCount=lambda: (_ for _ in ()).throw(RuntimeError("cudaErrorInsufficientDriver"))))
    monkeypatch.setitem(sys.modules, "cupy", broken)
    with pytest.raises(BackendUnavailable, match=r"CuPy 14.0 is installed but cannot use the GPU.*InsufficientDriver.*cupy-cuda13x"):
        resolve_backend("cupy")
    assert heads.cupy_wheel() == "cupy-cuda13x"
    # `auto` on a GPU model: CuPy when it runs there (the faster backend on a real GPU), else torch's cuda
    monkeypatch.setattr(heads, "_model_device", lambda m: torch.device("cuda", 0))
    assert resolve_backend("auto", model) == ("cuda", torch.device("cuda", 0))      # the broken CuPy above
    ok = types.ModuleType("cupy"); ok.__version__ = "14.0"
    ok.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1),
                                    Device=lambda i: contextlib.nullcontext())
    ok.zeros = lambda n: np.zeros(n)
    monkeypatch.setitem(sys.modules, "cupy", ok)
    assert resolve_backend("auto", model) == ("cupy", torch.device("cuda", 0))
    with pytest.raises(ValueError, match="unknown backend"):
        resolve_backend("rocm")


# ------------------------------------------------------------------------------------------ tools/gpu_check.py
def test_gpu_check_without_a_gpu_stops_with_one_line():
    if torch.cuda.is_available(): pytest.skip("this machine has a GPU")
    before = (ROOT / "results" / "gpu" / "summary.json").read_bytes()
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "gpu_check.py")], capture_output=True, text=True,
                       cwd=ROOT, timeout=120)
    lines = (r.stdout + r.stderr).strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("gpu-check: no GPU present"), lines
    assert (ROOT / "results" / "gpu" / "summary.json").read_bytes() == before     # a run without a GPU writes nothing
    summary = json.loads(before)          # the committed summary: "not run yet", or a real GPU's run with its checks
    assert (summary["status"] == "not_run" and summary["ran_on_gpu"] is False) or (
        summary["ran_on_gpu"] is True and summary["device"].get("gpu") and summary["checks"] and not summary["dry_run"])


@needs_data
def test_gpu_check_cpu_dry_run(tmp_path):
    "The whole check on the CPU, tiny: bundle built from the real files, every stage, all six methods, no datasets."
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", HIFI_GLUE_DIR=str(GLUE))
    b = subprocess.run([sys.executable, "tools/gpu_bundle.py", "--out", str(tmp_path / "bundle"), "--n-train", "256",
                        "--n-dev", "64"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert b.returncode == 0, b.stderr[-2000:]
    man = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert man["hidden_state_max_rel_error"] < 0.05 and man["n_train"] == 256
    r = subprocess.run([sys.executable, "tools/gpu_check.py", "--cpu-dry-run", "--bundle", str(tmp_path / "bundle"),
                        "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert r.returncode == 0 and s["status"] == "dry_run_ok", (r.stdout[-3000:], r.stderr[-3000:])
    assert {t["method"] for t in s["training"]} == {"full", "hifi", "sam", "random_mask", "lora", "bitfit"}
    assert all(t["frozen_identical"] for t in s["training"]) and s["imported_heavy"] == []
    assert {a["model"] for a in s["agreement"]} == {"minilm-l6", "bert-base", "bert-base-dh32", "bert-large"}
    assert (tmp_path / "out" / "summary.md").read_text().startswith("# GPU check (dry_run_ok)")


# ------------------------------------------------------------------------------------------ torchrun, 2 processes
@needs_data
def test_two_process_gloo_training(tmp_path):
    "torchrun --nproc_per_node 2 (gloo) trains hifi, sam and lora through run()/the Trainer; compared to one process."
    sys.path.insert(0, str(ROOT / "tools"))
    import ddp_check
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", HIFI_GLUE_DIR=str(GLUE),
               OMP_NUM_THREADS="1")
    torchrun = Path(sys.executable).with_name("torchrun")
    r = subprocess.run([str(torchrun), "--nproc_per_node", "2", "tools/ddp_check.py", "--out", str(tmp_path / "ddp")],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    os.environ.setdefault("HIFI_GLUE_DIR", str(GLUE))
    for m in ddp_check.METHODS:
        ranks = [json.loads((tmp_path / "ddp" / f"check_{m}_rank{i}.json").read_text()) for i in (0, 1)]
        single = ddp_check.check_method(m, tmp_path / "single")
        for c in ranks:
            assert c["world_size"] == 2 and c["status"] == "ok", c
            assert c["frozen_identical"] and c["trainable_changed"] > 0, c
            assert c["loss_last"] < c["loss_first"], c["losses"]
            assert c["train_steps"] * 2 == single["train_steps"]          # each rank sees half of every epoch
            for k in ("trainable_names", "trainable_shapes", "trainable", "selection", "tuning"):
                assert c[k] == single[k], (m, k)
        assert ranks[0]["trainable_digest"] == ranks[1]["trainable_digest"]   # the replicas stay in sync
        assert [c["record_written"] for c in ranks] == [True, False]
        rec = json.loads((tmp_path / "ddp" / f"record_{m}.json").read_text())
        assert rec["method"] == m and rec["status"] == "ok"
    assert not any((tmp_path / "ddp" / "tmp").glob("*"))


def test_gather_path_switch_reaches_spawned_processes():
    "HIFI_GATHER_ENTRY_GRADS=1 turns on the GPU's entry-gradient path in a fresh process (gpu_sweep's workers)."
    code = "import hifi_nb.layers as L; print(L.GATHER_ENTRY_GRADS)"
    root = Path(__file__).resolve().parents[1]
    def flag(value):
        env = {**os.environ, "PYTHONPATH": str(root)}
        env.pop("HIFI_GATHER_ENTRY_GRADS", None)
        if value is not None: env["HIFI_GATHER_ENTRY_GRADS"] = value
        return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert (flag(None), flag("0"), flag("1")) == ("False", "False", "True")
