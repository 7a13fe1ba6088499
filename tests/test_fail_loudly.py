"""Nothing silently wrong: every wrong input or broken state is a one-line error and a non-zero exit, and
nothing a user did not ask to change is changed. One test (or more) per finding of the issue."""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from hifi_nb import reproduce as R
from hifi_nb.data import DataError, read_glue_tsv, read_jsonl
from hifi_nb.report import build_report
from hifi_nb.train import save_record

from grid_helpers import BIN, ROOT, TINY, needs_data


def _rec(spec, status="ok", **kw):
    return dict(task=spec.task, method=spec.method, seed=spec.seed, name=spec.name, group=spec.group, status=status,
                config=dict(spec.params), val_metrics={"main": 0.5} if status == "ok" else {}, main=0.5 if status == "ok" else None,
                trainable_pct=1.0, seconds=1.0, peak_mem_mb=1.0, **kw)


@pytest.fixture
def fake(monkeypatch):
    "The in-process executor replaced by an instant fake: `fake.fail` = set of run ids (or True) that fail."
    class F:
        fail, done = set(), []
    def run(spec, path):
        F.done.append(spec.id)
        bad = F.fail is True or spec.id in F.fail
        save_record(_rec(spec, "failed" if bad else "ok", error="Traceback ...\nDataError: no data" if bad else None), path)
    monkeypatch.setattr(R, "execute_inprocess", run)
    monkeypatch.setattr(R, "preflight", lambda runs: [])
    return F


def _main(capsys, *argv):
    rc = R.main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line_error(rc, err):
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("hifi-nb: error:") and "Traceback" not in err, (rc, err)
    return lines[0]


# 1. a failed learning-rate sweep never poisons the grid
def test_failed_sweep_is_not_used_and_is_redone(tmp_path, fake, capsys):
    out = tmp_path / "runs"
    fake.fail = True
    rc, _, err = _main(capsys, "reproduce", "--profile", "cpu", "--out", out, "--executor", "inprocess", "--limit", "1")
    n = len(R.profile_runs("sweep_cpu"))
    assert rc == 2 and f"{n} of {n} runs not usable" in err and "DataError: no data" in err
    assert not (tmp_path / "hparams").exists() and not (out / "cpu").exists()       # no rates, no grid run
    fake.fail, fake.done = set(), []
    rc, _, err = _main(capsys, "reproduce", "--profile", "cpu", "--out", out, "--executor", "inprocess", "--limit", "1")
    assert rc == 0, err
    assert len(fake.done) == n + 1                                                    # every failed sweep run redone
    chosen = json.loads((tmp_path / "hparams" / "lr_cpu.json").read_text())["chosen"]
    assert set(chosen) == set(R.MAIN_METHODS)
    first = R.profile_runs("cpu")[0]                                                  # the grid's first run
    rec = json.loads((out / "cpu" / f"{first.id}.json").read_text())
    assert rec["config"]["lr"] == chosen[first.method]
    # a rate file written from a failed sweep counts as missing; without any rates the grid refuses
    (tmp_path / "hparams" / "lr_cpu.json").write_text(json.dumps({"chosen": {}}))
    assert R.load_lrs("cpu", tmp_path / "hparams") is None
    with pytest.raises(R.UserError, match="no chosen learning rate for full"):
        R.apply_lrs(R.profile_runs("cpu")[:1], {})


# 2. --set never writes into the profile's folder
def test_set_writes_to_its_own_folder(tmp_path, fake, capsys):
    smoke = R.profile_runs("smoke")
    mine = tmp_path / "smoke" / f"{smoke[0].id}.json"
    save_record(_rec(smoke[0]), mine)
    before = mine.read_bytes(), mine.stat().st_mtime_ns
    rc, out, err = _main(capsys, "reproduce", "--profile", "smoke", "--out", tmp_path, "--executor", "inprocess",
                         "--limit", "1", "--set", "epochs=0.2", "max_train_samples=64")
    assert rc == 0, err
    folder = tmp_path / "smoke+epochs=0.2,max_train_samples=64"
    assert json.loads((folder / f"{smoke[0].id}.json").read_text())["config"]["epochs"] == 0.2
    assert (mine.read_bytes(), mine.stat().st_mtime_ns) == before and not (tmp_path / "smoke" / "stale").exists()
    # a record with other settings slipped into the profile's folder: the report refuses it, writes nothing
    (tmp_path / "smoke" / f"{smoke[1].id}.json").write_text((folder / f"{smoke[0].id}.json").read_text()
                                                            .replace(smoke[0].method, smoke[1].method))
    rc, _, err = _main(capsys, "report", "--profile", "smoke", "--runs", tmp_path, "--out", tmp_path / "res")
    assert "made with other settings (epochs: 0.2, profile 1" in _one_line_error(rc, err)
    assert not (tmp_path / "res").exists()


# 3. the report refuses a missing or empty runs folder and touches nothing
def test_report_refuses_missing_runs_and_changes_nothing(tmp_path, capsys):
    (tmp_path / "tables").mkdir()
    table = tmp_path / "tables" / "main_cpu.md"; table.write_text("the published table\n")
    readme = tmp_path / "README.md"
    readme.write_text("x\n<!-- results-cpu:start -->\npublished\n<!-- results-cpu:end -->\n")
    snap = {p: p.read_bytes() for p in (table, readme)}
    rc, _, err = _main(capsys, "report", "--runs", tmp_path / "result" / "runs", "--out", tmp_path, "--readme", readme)
    assert "does not exist" in _one_line_error(rc, err)
    (tmp_path / "runs" / "cpu").mkdir(parents=True)
    rc, _, err = _main(capsys, "report", "--runs", tmp_path / "runs", "--out", tmp_path, "--readme", readme)
    assert "holds no records" in _one_line_error(rc, err)
    assert {p: p.read_bytes() for p in snap} == snap and sorted(os.listdir(tmp_path / "tables")) == ["main_cpu.md"]


def test_report_checks_readme_before_writing(tmp_path, capsys):
    s = R.profile_runs("smoke")[0]
    save_record(_rec(s), tmp_path / "runs" / "smoke" / f"{s.id}.json")
    (tmp_path / "README.md").write_text("no markers\n")
    rc, _, err = _main(capsys, "report", "--profile", "smoke", "--runs", tmp_path / "runs", "--out", tmp_path / "res",
                       "--readme", tmp_path / "README.md")
    assert "markers" in _one_line_error(rc, err) and not (tmp_path / "res").exists()


# 10. report --profile smoke shows the smoke runs
def test_report_smoke_profile_has_a_main_table(tmp_path):
    for s in R.profile_runs("smoke"):
        save_record(_rec(s), tmp_path / "runs" / "smoke" / f"{s.id}.json")
    build_report(tmp_path / "runs" / "smoke", tmp_path, "smoke")
    md = (tmp_path / "tables" / "main_smoke.md").read_text()
    assert "no finished main-table run" not in md and "| random_mask | 50.00 | 50.00 |" in md, md
    assert (tmp_path / "tables" / "main_smoke.md").stat().st_mode & 0o044                # not 0600


# 4. broken records are moved aside and redone; failed runs are listed and make the exit code non-zero
def test_corrupted_record_is_redone_and_failures_exit_nonzero(tmp_path, fake, capsys):
    runs = [r for r in R.profile_runs("smoke") if r.task == "rte"][:3]
    p = tmp_path / "smoke" / f"{runs[0].id}.json"
    save_record(_rec(runs[0]), p); p.write_text(p.read_text()[:40])                  # truncated
    rc, out, _ = _main(capsys, "reproduce", "--profile", "smoke", "--out", tmp_path, "--tasks", "rte", "--limit", "3", "--dry-run")
    assert f"{runs[0].id}" in out and " broken " in out.splitlines()[0]
    fake.fail = {runs[2].id}
    rc, out, err = _main(capsys, "reproduce", "--profile", "smoke", "--out", tmp_path, "--tasks", "rte", "--limit", "3",
                         "--executor", "inprocess")
    assert rc == 1 and "2 ok, 1 failed" in out and "1 unreadable records redone" in out
    assert f"{runs[2].id}: DataError: no data" in err and "--retry-failed" in err
    assert json.loads(p.read_text())["status"] == "ok" and len(list((tmp_path / "smoke" / "broken").glob("*.json"))) == 1
    # a failed run stays failed (and the exit code says so) until it is retried on request
    rc, out, _ = _main(capsys, "reproduce", "--profile", "smoke", "--out", tmp_path, "--tasks", "rte", "--limit", "3", "--executor", "inprocess")
    assert rc == 1 and "3 already done" in out
    fake.fail = set()
    rc, out, _ = _main(capsys, "reproduce", "--profile", "smoke", "--out", tmp_path, "--tasks", "rte", "--limit", "3",
                       "--executor", "inprocess", "--retry-failed")
    assert rc == 0 and "1 ok, 0 failed, 2 already done" in out


def test_paper_profile_checks_models_and_data_before_the_first_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")                 # as on a machine without a network
    rc, _, err = _main(capsys, "reproduce", "--profile", "paper", "--out", tmp_path, "--limit", "1", "--executor", "inprocess")
    line = _one_line_error(rc, err)
    assert "before the first run, nothing was run" in line and "roberta-base" in line
    assert not list((tmp_path / "paper").glob("*.json"))


# 5. a set but invalid data folder is an error; records say which data they used
def test_invalid_data_dir_is_an_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HIFI_SAM_DIR", str(tmp_path / "sam_splitz"))
    with pytest.raises(DataError, match="HIFI_SAM_DIR=.*sam_splitz is not a directory"):
        from hifi_nb.data import load_task
        load_task("rte", protocol="sam")
    rc, _, err = _main(capsys, "reproduce", "--profile", "smoke", "--out", tmp_path, "--limit", "1", "--executor", "inprocess",
                       "--set", "model=tiny-bert")
    assert "HIFI_SAM_DIR" in _one_line_error(rc, err)


@needs_data
def test_records_store_their_data_source(tmp_path, fake):
    s = R.profile_runs("smoke")[0]
    R.run_grid([s], tmp_path, "smoke", executor="inprocess", progress=False)
    rec = json.loads((tmp_path / "smoke" / f"{s.id}.json").read_text())
    src = rec["extra"]["data"]
    assert src["kind"] == "sam" and len(src["sha256"]) == 64 and "rte/train.jsonl" in src["files"]
    assert (tmp_path / "smoke" / f"{s.id}.json").stat().st_mode & 0o044               # readable by all, not 0600


# 6. --jobs workers end with their parent (SIGKILL too); a restart never does a run twice
@needs_data
def test_sigkill_jobs_parent_no_orphans_no_duplicates(tmp_path):
    cmd = [str(BIN / "hifi-nb"), "reproduce", "--profile", "smoke", "--tasks", "rte", "--methods", "full", "bitfit",
           "random_mask", "--executor", "inprocess", "--jobs", "2", "--out", str(tmp_path),
           "--set"] + [f"{k}={json.dumps(v)}" for k, v in TINY.items()]
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    folder = tmp_path / R.set_folder("smoke", TINY)
    parent = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kids, t0 = [], time.time()
    while time.time() - t0 < 120:                              # both workers up and at least one run claimed
        kids = subprocess.run(["pgrep", "-P", str(parent.pid)], capture_output=True, text=True).stdout.split()
        if len(kids) == 2 and list(folder.glob("locks/*__*.lock")): break
        time.sleep(0.2)
    assert len(kids) == 2, kids
    parent.send_signal(signal.SIGKILL); parent.wait()
    t0 = time.time()
    alive = kids
    while alive and time.time() - t0 < 10:
        time.sleep(0.2)
        alive = [k for k in kids if Path(f"/proc/{k}").exists() and "zombie" not in Path(f"/proc/{k}/status").read_text().lower()]
    assert not alive, alive                                    # no orphan keeps running
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)   # immediate restart
    assert p.returncode == 0, p.stderr[-2000:]
    ids = [line.split("\t")[1] for line in (folder / "grid.log").read_text().splitlines()]
    assert sorted(ids) == sorted(f"rte__{m}__0" for m in ("full", "bitfit", "random_mask"))   # each run once
    assert not list((folder / "tmp").glob("*")) and [p.name for p in (folder / "locks").iterdir()] == ["grid.lock"]


# 7. labels are validated with file and line
def test_nan_and_out_of_range_labels(tmp_path):
    (tmp_path / "train.jsonl").write_text('{"text_a": "a", "text_b": "b", "label": 2.0}\n{"text_a": "a", "text_b": "b", "label": NaN}\n')
    with pytest.raises(DataError, match=r"train.jsonl:2: label nan is not a finite number"):
        read_jsonl("stsb", tmp_path / "train.jsonl")
    (tmp_path / "train.tsv").write_text("index\tsentence1\tsentence2\tscore\n0\ta\tb\t50\n")
    with pytest.raises(DataError, match=r"train.tsv:2: label '50' is outside the range \[0, 5\] of stsb"):
        read_glue_tsv("stsb", tmp_path / "train.tsv")


# 9. every CLI error is one line, no traceback, exit code 2; checked before anything runs
@pytest.mark.parametrize("argv, msg", [
    (["reproduce", "--profile", "gpu"], "unknown profile 'gpu'"),
    (["reproduce", "--shard", "x"], "--shard must look like i/n"),
    (["reproduce", "--shard", "5/4"], "need 1 <= i <= n"),
    (["reproduce", "--tasks", "rtee"], "--tasks rtee: not in profile cpu"),
    (["reproduce", "--methods", "hifii"], "--methods hifii: not in profile cpu"),
    (["reproduce", "--limit", "0"], "--limit must be >= 1"),
    (["reproduce", "--set", "seed=1"], "seed is a grid coordinate"),
    (["reproduce", "--set", "task="], "task is a grid coordinate"),
    (["reproduce", "--set", "epochz=1"], "--set epochz: unknown key"),
    (["reproduce", "--set", "epochs=fast"], "needs a float value"),
    (["report", "--profile", "gpu"], "unknown profile 'gpu'"),
    (["sweep", "--profile", "smoke"], "no learning-rate sweep for profile 'smoke'"),
])
def test_cli_errors_are_one_line(tmp_path, capsys, argv, msg):
    rc, out, err = _main(capsys, *argv, "--out", tmp_path)
    assert msg in _one_line_error(rc, err) and not list(tmp_path.iterdir())


def test_cli_error_in_a_subprocess_has_no_traceback(tmp_path):
    p = subprocess.run([str(BIN / "hifi-nb"), "reproduce", "--tasks", "rtee", "--out", str(tmp_path)],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0 and "Traceback" not in p.stderr, p.stderr


def test_help_lists_set_keys_and_path_rule(capsys):
    with pytest.raises(SystemExit):
        R.main(["reproduce", "--help"])
    h = " ".join(capsys.readouterr().out.split())
    assert all(k in h for k in R.SET_KEYS) and "relative to the repository checkout" in h


def test_relative_out_is_the_checkouts_from_anywhere(tmp_path, monkeypatch, capsys):
    "Run from another directory, --out still means the checkout's results/runs (one convention), and nothing lands in the cwd."
    monkeypatch.chdir(tmp_path)
    assert R.resolve_path("results/runs") == R.repo_root() / "results" / "runs"
    rc, out, _ = _main(capsys, "reproduce", "--profile", "cpu", "--dry-run")
    assert rc == 0 and f"{len(R.profile_runs('cpu'))} runs (" in out and "in profile cpu" in out
    assert not any(tmp_path.iterdir())
