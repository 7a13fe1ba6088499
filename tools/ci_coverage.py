"""How often do the claims' 95% intervals hold the true difference? A simulation at the study's shape.

The report's averaged score claims rest on paired differences, five seeds per task, eight tasks. This script
simulates such studies (true difference 0, normal or heavy-tailed noise, the per-task sds measured so far in
`results/tables/seed_power_cpu.csv` or simple patterns) and counts how often the percentile bootstrap's interval
and the t interval (`hifi_nb.report.t_interval`) hold the truth. Both are computed exactly as `claims_table`
computes them (`interval_coverage`).

Usage: python tools/ci_coverage.py [out.md]   (default results/study/ci_coverage.md; ~5 min on two cores)"""
import sys
from pathlib import Path

import pandas as pd
from tqdm import tqdm

import numpy as np

from hifi_nb.report import _boot_stat, _std_diff, interval_coverage
from hifi_nb.train import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
N_SIMS, N_BOOT = 4000, 2000


def scenarios(power_csv: Path) -> list[tuple[str, list[float], int, int | None]]:
    "(label, per-task sds, seeds, t-noise df or None) for each simulated study shape."
    out = [("8 equal tasks", [1.0] * 8, n, None) for n in (3, 5, 10)]
    out += [("8 equal tasks, t(3) noise", [1.0] * 8, 5, 3), ("one task 5x the others' sd", [5.0] + [1.0] * 7, 5, None)]
    if power_csv.exists():                 # the per-task sds the report projects from (measured so far)
        pw = pd.read_csv(power_csv)
        for claim, g in pw[pw.task != "avg"].groupby("claim", sort=False):
            sds = [max(float(s), 1e-6) for s in g.sd]          # a task with no spread so far: (almost) none
            out.append((f"measured sds: {claim}", sds, 5, None))
    return out


def std_coverage(n_tasks: int, n_seeds: int, rho: float, n_sims: int = N_SIMS, n_boot: int = N_BOOT, seed: int = 0) -> float:
    """The stability claims' interval (bootstrap of the mean over tasks of std(m) − std(full), `claims_table`'s):
    the share of simulated studies whose interval holds the true 0 (both methods' scores unit-variance normal,
    correlated `rho` across seeds, as paired runs share their data order)."""
    rng = np.random.default_rng(seed)
    cov, hit = [[1.0, rho], [rho, 1.0]], 0
    for _ in range(n_sims):
        g = [tuple(rng.multivariate_normal([0.0, 0.0], cov, n_seeds).T) for _ in range(n_tasks)]
        _, reps = _boot_stat(g, _std_diff, n_boot, rng)
        lo, hi = np.percentile(reps, [2.5, 97.5])
        hit += lo <= 0 <= hi
    return hit / n_sims


def main(out: Path) -> None:
    rows = []
    for label, sds, n, df in tqdm(scenarios(ROOT / "results" / "tables" / "seed_power_cpu.csv"), desc="scenarios"):
        c = interval_coverage(sds, n, n_sims=N_SIMS, n_boot=N_BOOT, seed=0, df=df)
        rows.append(dict(scenario=label, tasks=len(sds), seeds=n, **c))
    t = pd.DataFrame(rows)
    st = pd.DataFrame([dict(tasks=8, seeds=n, rho=r, coverage=std_coverage(8, n, r)) for n, r in
                       tqdm([(3, 0.0), (5, 0.0), (5, 0.5), (10, 0.0)], desc="stability")])
    atomic_write_text(out.with_name(out.stem + "_stability.csv"), st.to_csv(index=False, float_format="%.4f"))
    stab = "\n".join(f"| {r.tasks} | {r.seeds} | {r.rho:.1f} | {r.coverage:.3f} |" for r in st.itertuples())
    atomic_write_text(out.with_suffix(".csv"), t.to_csv(index=False, float_format="%.4f"))
    body = "\n".join(f"| {r.scenario} | {r.tasks} | {r.seeds} | {r.boot:.3f} | {r.t:.3f} | {r.boot_half / r.t_half:.2f} |"
                     for r in t.itertuples())
    se = (0.95 * 0.05 / N_SIMS) ** 0.5
    atomic_write_text(out, f"""# Do the claims' 95 % intervals hold 95 %?

Written by `python tools/ci_coverage.py` (`hifi_nb.report.interval_coverage`): {N_SIMS:,} simulated studies per
row, true paired difference 0, each task's differences normal with the given sd (or t-distributed with 3 degrees
of freedom, scaled to that sd); the averaged claim's interval is computed as `claims_table` computes it
({N_BOOT:,} bootstrap resamples within each task; the t interval with Welch–Satterthwaite degrees of freedom).
Coverage is the share of studies whose interval holds 0 (a share of 0.95 has a Monte Carlo se of ±{se:.3f}); the
last column is the bootstrap's mean half-width over the t interval's. "measured sds" rows take the per-task sds
of `results/tables/seed_power_cpu.csv` (the records so far).

| scenario | tasks | seeds | bootstrap coverage | t coverage | bootstrap / t width |
|---|---|---|---|---|---|
{body}

With three to five seeds per task the percentile bootstrap sees each task's spread with divisor `n` instead of
`n − 1` and uses a normal tail, so its "95 %" interval holds the truth less often than it says. That is why a
score claim's verdict in the report is one that both intervals give, else *unresolved*.

The stability claims (`std(m) − std(full) < 0`) have no textbook interval; their bootstrap interval, with the
true stds equal, holds the true difference 0 this often (scores of the two methods correlated `rho` across
seeds):

| tasks | seeds | rho | bootstrap coverage |
|---|---|---|---|
{stab}

Close to, but below, the nominal 0.95: read a stability verdict at the edge of its interval with that in mind.
""")
    print(t.to_string(index=False)); print(st.to_string(index=False))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "results" / "study" / "ci_coverage.md")
