"""The reproduce grid: smoke run through papermill, kill-and-resume, failures recorded, shards, report, LRs."""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

import hifi_nb.train as train
from hifi_nb import reproduce as R
from hifi_nb.report import TABLE_COLUMNS, build_report
from hifi_nb.train import RECORD_KEYS, RunRecord, save_record

from grid_helpers import BIN, GLUE, ROOT, TINY, needs_data


def _env():
    env = dict(os.environ)
    env.setdefault("HIFI_GLUE_DIR", str(GLUE))
    env["TOKENIZERS_PARALLELISM"] = "false"
    return env


def _tiny_runs(methods=("full", "bitfit", "random_mask"), task="rte"):
    return R.override([r for r in R.profile_runs("smoke") if r.task == task and r.method in methods], **TINY)


@needs_data
def test_smoke_cli_papermill(tmp_path):
    "`hifi-nb reproduce --profile smoke` (one HiFi run, tiny model) end to end through the notebook."
    cmd = [str(BIN / "hifi-nb"), "reproduce", "--profile", "smoke", "--tasks", "rte", "--methods", "hifi",
           "--executor", "papermill", "--out", str(tmp_path), "--set"] + [f"{k}={json.dumps(v)}" for k, v in TINY.items()]
    p = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    out = tmp_path / R.set_folder("smoke", TINY)                                             # --set: its own folder
    rec = json.loads((out / "rte__hifi__0.json").read_text())
    assert rec["status"] == "ok", rec["error"]
    assert list(rec) == list(RECORD_KEYS)
    assert rec["split"] == "test" and 0 <= rec["main"] <= 1 and len(rec["selection"]) == 2   # k=1 x 2 layers
    assert (out / "rte__hifi__0.ipynb").exists()                                             # executed notebook kept
    assert not list((out / "tmp").glob("*"))                                                 # nothing half-written
    assert "hifi-nb: rte__hifi__0: epoch 1/1, val main" in p.stderr                          # one status line per epoch
    assert rec["extra"]["data"]["sha256"] and (out / "rte__hifi__0.json").stat().st_mode & 0o044
    # second call: everything is done, nothing runs again
    p2 = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=120)
    assert "1 already done" in p2.stdout, p2.stdout


@needs_data
def test_interrupted_write_then_resume(tmp_path, monkeypatch):
    "A kill between writing the temp record and renaming it leaves no record; resuming redoes only that run."
    runs = _tiny_runs()
    real_replace, calls = os.replace, {"n": 0}

    def dying_replace(src, dst):
        if str(dst).endswith(".json"):
            calls["n"] += 1
            if calls["n"] == 2: raise KeyboardInterrupt("simulated kill during the second record's write")
        return real_replace(src, dst)

    monkeypatch.setattr(train.os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        R.run_grid(runs, tmp_path, "smoke", executor="inprocess", progress=False)
    monkeypatch.setattr(train.os, "replace", real_replace)
    out = tmp_path / "smoke"
    assert sorted(p.name for p in out.glob("*.json")) == [f"{runs[0].id}.json"]
    assert not list((out / "tmp").glob("*"))                       # the temp file was cleaned up, not left half
    first = (out / f"{runs[0].id}.json").stat().st_mtime_ns
    done = []
    def counting(spec, path):
        done.append(spec.id); return R.execute_inprocess(spec, path)
    c = R.run_grid(runs, tmp_path, "smoke", runner=counting, progress=False)
    assert done == [r.id for r in runs[1:]] and c["skipped"] == 1 and c["ok"] == 2
    assert (out / f"{runs[0].id}.json").stat().st_mtime_ns == first


@needs_data
def test_sigkill_mid_grid_then_resume(tmp_path):
    "SIGKILL the grid process mid-run: every record left is complete JSON, and a restart finishes the rest."
    cmd = [str(BIN / "hifi-nb"), "reproduce", "--profile", "smoke", "--tasks", "rte", "--methods", "full", "bitfit",
           "random_mask", "--executor", "inprocess", "--out", str(tmp_path), "--set"] + \
          [f"{k}={json.dumps(v)}" for k, v in TINY.items()]
    out = tmp_path / R.set_folder("smoke", TINY)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(), cwd=ROOT)
    t0 = time.time()
    while time.time() - t0 < 180 and not list(out.glob("*.json")): time.sleep(0.2)
    time.sleep(1.0)                                                # now inside the second run
    proc.send_signal(signal.SIGKILL); proc.wait()
    left = sorted(out.glob("*.json"))
    assert 1 <= len(left) <= 3
    stamps = {p.name: p.stat().st_mtime_ns for p in left}
    for p in left: assert json.loads(p.read_text())["status"] == "ok"   # complete, parseable records only
    p = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert f"{len(left)} already done" in p.stdout
    assert len(list(out.glob("*.json"))) == 3
    assert all(q.stat().st_mtime_ns == stamps[q.name] for q in left)   # finished runs were not redone


@needs_data
def test_failing_run_is_recorded_and_grid_continues(tmp_path):
    runs = _tiny_runs(("full", "random_heads", "bitfit"))
    runs = [r if r.method != "random_heads" else R.override([r], k=99)[0] for r in runs]   # k out of range
    c = R.run_grid(runs, tmp_path, "smoke", executor="inprocess", progress=False)
    assert (c["ok"], c["failed"]) == (2, 1)
    bad = json.loads((tmp_path / "smoke" / "rte__random_heads__0.json").read_text())
    assert bad["status"] == "failed" and "99" in bad["error"] and bad["main"] is None
    assert json.loads((tmp_path / "smoke" / "rte__bitfit__0.json").read_text())["status"] == "ok"
    # a rerun skips the failed record unless asked to retry it
    assert R.run_grid(runs, tmp_path, "smoke", executor="inprocess", progress=False)["skipped"] == 3


@pytest.mark.parametrize("profile", ["cpu", "paper", "smoke"])
def test_shards_partition(profile):
    runs = R.profile_runs(profile)
    assert len({r.id for r in runs}) == len(runs)
    for n in (1, 2, 5):
        parts = [R.shard(runs, i, n) for i in range(1, n + 1)]
        ids = [r.id for p in parts for r in p]
        assert sorted(ids) == sorted(r.id for r in runs) and len(ids) == len(set(ids))


def test_cpu_profile_contents():
    runs = R.profile_runs("cpu")
    main = [r for r in runs if r.group == "main"]
    assert len(main) == 8 * 8 * 5 and runs[:len(main)] == main          # 8 tasks x 8 methods x 5 seeds, first
    assert {r.method for r in main} == set(R.MAIN_METHODS) and "adapter" in R.MAIN_METHODS
    assert {r.task for r in main} == {"cola", "stsb", "mrpc", "rte", "cb", "copa", "wsc", "sst2"}
    assert {r.task for r in runs if r.group != "main"} == {"cola", "sst2"}  # ablations where MiniLM learns, not RTE
    assert {r.task for r in runs if r.group == "density_sweep"} == {"cola"}
    assert {r.task for r in runs if r.group == "k_sweep"} == {"sst2"}
    assert {r.seed for r in runs if r.group != "main"} == set(range(5))
    assert all(dict(r.params)["protocol"] == "sam" and dict(r.params)["model"] == "minilm-l6" for r in runs)
    # whole SAM-protocol training splits, except SST-2's seeded subsample
    assert {r.task for r in runs if dict(r.params).get("max_train_samples")} == {"sst2"}


def test_paper_dry_run(capsys):
    assert R.main(["reproduce", "--profile", "paper", "--dry-run", "--shard", "2/4", "--out", "/nonexistent"]) == 0
    assert "440 runs (0 done) in profile paper, shard 2/4" in capsys.readouterr().out   # 1,760 / 4


def test_dry_run_measures_the_cost_model(tmp_path, capsys):
    "--dry-run sets the finished runs' wall seconds beside their estimates and projects the rest at that ratio."
    runs = [r for r in R.profile_runs("smoke") if r.task == "rte"]
    R.main(["reproduce", "--profile", "smoke", "--tasks", "rte", "--dry-run", "--out", str(tmp_path)])
    assert "measured:" not in capsys.readouterr().out                                     # nothing finished yet
    for r in runs[:2]:                                                                     # each took 3x its estimate
        save_record(RunRecord(task=r.task, method=r.method, seed=r.seed, name=r.name, group=r.group, main=0.5,
                              config=dict(r.params), trainable_pct=1.0, seconds=3 * R.estimate_seconds(r), peak_mem_mb=1),
                    R.record_path(tmp_path, "smoke", r))
    assert R.main(["reproduce", "--profile", "smoke", "--tasks", "rte", "--dry-run", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    took, todo = sum(3 * R.estimate_seconds(r) for r in runs[:2]), sum(R.estimate_seconds(r) for r in runs[2:])
    assert f"{len(runs)} runs (2 done)" in out, out
    assert (f"measured: the finished runs took {took / 3600:.1f} h of run time, {took / 3 / 3600:.1f} h estimated (x3.00); "
            f"still to run at that rate: {3 * todo / 3600:.1f} h of run time (two workers") in out, out

def test_report_from_synthetic_records(tmp_path):
    vals = {("rte", "full"): [0.5, 0.7], ("rte", "hifi"): [0.6, 0.6, 0.6], ("cola", "full"): [0.3, 0.4, 0.5]}
    for (t, m), vs in vals.items():
        for s, v in enumerate(vs):
            save_record(RunRecord(task=t, method=m, seed=s, main=v, trainable_pct=1.0, seconds=1, peak_mem_mb=1),
                        tmp_path / "runs" / f"{t}__{m}__{s}.json")
    build_report(tmp_path / "runs", tmp_path, "cpu", check=False)          # synthetic records: no configs to check
    t = pd.read_csv(tmp_path / "tables" / "main_cpu.csv")
    assert list(t.columns) == TABLE_COLUMNS
    r = t.set_index(["method", "task"])
    assert r.loc[("full", "rte"), "mean"] == pytest.approx(60.0) and r.loc[("full", "rte"), "std"] == pytest.approx(14.1421, abs=1e-3)
    assert r.loc[("full", "cola"), "metric"] == "mcc" and r.loc[("full", "rte"), "n_seeds"] == 2
    assert r.loc[("full", "avg"), "mean"] == pytest.approx(50.0) and r.loc[("full", "avg"), "n_seeds"] == 2
    md = (tmp_path / "tables" / "main_cpu.md").read_text()
    assert "(partial)" in md and "60.00±14.14 (2)" in md        # 2 of 3 seeds; hifi misses CoLA


def test_cpu_grid_takes_lrs_from_the_sweep_file(tmp_path, capsys):
    "With results/hparams/lr_cpu.json present, every cpu run gets its method's swept rate (dry run)."
    (tmp_path / "hparams").mkdir()
    chosen = {m: 1e-4 * (i + 1) for i, m in enumerate(R.MAIN_METHODS)}
    (tmp_path / "hparams" / "lr_cpu.json").write_text(json.dumps({"chosen": chosen}))
    R.main(["reproduce", "--profile", "cpu", "--dry-run", "--out", str(tmp_path / "runs"), "--limit", "7"])
    lines = capsys.readouterr().out.splitlines()[:7]
    for line, m in zip(lines, R.MAIN_METHODS):
        assert f'"lr": {chosen[m]}' in line, line


@needs_data
def test_jobs_split_the_grid_over_workers(tmp_path):
    "`--jobs 2`: two worker processes, one thread each, together run every selected run exactly once."
    cmd = [str(BIN / "hifi-nb"), "reproduce", "--profile", "smoke", "--tasks", "rte", "--methods", "full", "bitfit",
           "random_mask", "--executor", "inprocess", "--jobs", "2", "--out", str(tmp_path),
           "--set"] + [f"{k}={json.dumps(v)}" for k, v in TINY.items()]
    p = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    out = tmp_path / R.set_folder("smoke", TINY)
    assert f"{out.name} (2 workers): 3 ok, 0 failed, 0 not run, of 3" in p.stdout, p.stdout
    recs = [json.loads(f.read_text()) for f in sorted(out.glob("*.json"))]
    assert sorted(r["method"] for r in recs) == ["bitfit", "full", "random_mask"]
    assert {r["versions"]["threads"] for r in recs} == {max(1, (os.cpu_count() or 1) // 2)}   # cores split
    log = (out / "grid.log").read_text().splitlines()
    assert sorted(line.split("\t")[1] for line in log) == sorted(f"rte__{m}__0" for m in ("full", "bitfit", "random_mask"))
    assert R.main(["reproduce", "--profile", "smoke", "--jobs", "2", "--limit", "1", "--out", str(tmp_path)]) == 2


@needs_data
def test_jobs_parent_killed_stops_its_workers(tmp_path):
    "`kill <parent>` of a `--jobs 2` grid stops the workers too (no orphan keeps running and writing)."
    cmd = [str(BIN / "hifi-nb"), "reproduce", "--profile", "smoke", "--executor", "inprocess", "--jobs", "2",
           "--out", str(tmp_path), "--set"] + [f"{k}={json.dumps(v)}" for k, v in TINY.items()]
    parent = subprocess.Popen(cmd, env=_env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kids, t0 = [], time.time()
    while len(kids) < 2 and time.time() - t0 < 60:             # wait until both workers are up
        time.sleep(0.5)
        kids = subprocess.run(["pgrep", "-P", str(parent.pid)], capture_output=True, text=True).stdout.split()
    assert len(kids) == 2, kids
    parent.send_signal(signal.SIGTERM)
    parent.wait(timeout=60)
    time.sleep(1)
    alive = [k for k in kids if Path(f"/proc/{k}").exists() and "zombie" not in Path(f"/proc/{k}/status").read_text()]
    assert not alive, alive


def test_registry_default_rates_are_the_cpu_choice():
    "`lr=None` means the cpu profile's chosen rate: the registry's defaults follow results/hparams/lr_cpu.json."
    from hifi_nb.profiles import load_lrs
    from hifi_nb.tuning import METHODS
    chosen = load_lrs("cpu", Path(__file__).resolve().parents[1] / "results" / "hparams", current_only=True)
    assert chosen is not None and set(chosen) == set(METHODS)
    assert {m: METHODS[m].lr for m in chosen} == chosen
