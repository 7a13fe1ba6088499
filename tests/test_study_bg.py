"""tools/study_bg.sh's commit step: new records are committed, records the grid moved aside are committed as moved."""
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def _git(repo, *args) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout

def test_commit_records_moved_aside(tmp_path):
    repo = tmp_path / "repo"
    (repo / "tools").mkdir(parents=True)
    shutil.copy(ROOT / "tools" / "study_bg.sh", repo / "tools" / "study_bg.sh")
    runs = repo / "results" / "runs" / "cpu"
    runs.mkdir(parents=True)
    (runs / "a__full__0.json").write_text("{}")
    (runs / "b__full__0.json").write_text("{}")
    _git(repo, "init", "-q"); _git(repo, "config", "user.email", "t@t"); _git(repo, "config", "user.name", "t")
    _git(repo, "add", "."); _git(repo, "commit", "-qm", "init")
    (runs / "stale").mkdir()
    (runs / "a__full__0.json").rename(runs / "stale" / "a__full__0.20261128T120000.json")   # retired by the grid
    (runs / "c__full__0.json").write_text("{}")                                              # a new record
    (runs / "c__full__0.ipynb").write_text("{}")                                             # never a notebook
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "STUDY_WORKTREE": str(repo)}
    subprocess.run(["bash", str(repo / "tools" / "study_bg.sh"), "_commit"], check=True, env=env, cwd=repo)
    tracked = set(_git(repo, "ls-files", "results").split())
    assert tracked == {"results/runs/cpu/b__full__0.json", "results/runs/cpu/c__full__0.json",
                       "results/runs/cpu/stale/a__full__0.20261128T120000.json"}, tracked
    assert _git(repo, "status", "--porcelain", "--", "results/runs/cpu/a__full__0.json") == ""   # the removal is committed
    assert "Study records" in _git(repo, "log", "-1", "--format=%s")
