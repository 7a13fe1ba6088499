"""The report's paired statistics (`claims_table`) and SAM's Table 1 view (`table1_view`) on synthetic records
with known effects: a large true difference is supported, a large negative one contradicted, noise alone
unresolved; the interval holds the true mean difference; unpaired and failed runs are never paired."""
import numpy as np
import pandas as pd
import pytest

from hifi_nb.report import (CLAIM_COLUMNS, SAM_TABLE1, TABLE1_METHODS, TABLE1_TASKS, build_report, claims_markdown,
                            claims_table, load_records, main_table, one_class_runs, one_class_tasks, paired_diffs, t_interval, table1_markdown,
                            table1_view, verdict)
from hifi_nb.train import RunRecord, save_record

TASKS = ("rte", "mrpc", "cola")
SEEDS = range(5)
NOISE = np.array([-2.0, -1.0, 0.0, 1.0, 2.0]) / 100       # symmetric: its mean over five seeds is exactly 0
N_BOOT = 2000


def frame(scores: dict) -> pd.DataFrame:
    "Records as `load_records` gives them: `scores[(method, task)]` = one score per seed (None = no run)."
    rows = [dict(task=t, method=m, name=m, group="main", seed=s, status="ok", main=v, trainable_pct=1.0)
            for (m, t), vs in scores.items() for s, v in zip(SEEDS, vs) if v is not None]
    return pd.DataFrame(rows)


def shifted(effects: dict, base=0.6, noise=True) -> dict:
    """`method -> effect` (×1, added to a per-task, per-seed base score); each method but `full` gets the
    symmetric noise in a task-specific order, so paired differences are `effect + noise` with mean `effect`."""
    out = {}
    for i, t in enumerate(TASKS):
        b = base + 0.05 * np.arange(5)[::-1] + 0.01 * i
        for j, (m, e) in enumerate(effects.items()):
            n = np.roll(NOISE, i + j) if noise and m != "full" else 0 * NOISE
            out[(m, t)] = list(b + e + n)
    return out


def row(c, claim, task="avg"):
    return c[(c.claim == claim) & (c.task == task)].iloc[0]


def test_verdict_rule():
    assert verdict(0.1, 2.0, ">", 0) == "supported" and verdict(0.0, 2.0, ">", 0) == "unresolved"
    assert verdict(-2.0, 0.0, ">", 0) == "contradicted" and verdict(-2.0, 0.1, ">", 0) == "unresolved"
    assert verdict(-1.0, 3.0, ">=", -1) == "supported" and verdict(-1.01, 3.0, ">=", -1) == "unresolved"
    assert verdict(-3.0, -1.01, ">=", -1) == "contradicted" and verdict(-3.0, -1.0, ">=", -1) == "unresolved"
    assert verdict(-2.0, -0.1, "<", 0) == "supported" and verdict(0.1, 1.0, "<", 0) == "contradicted"
    assert verdict(0.0, 1.0, "<", 0) == "unresolved" and verdict(-1.0, 0.0, "<", 0) == "unresolved"   # an end at 0 decides nothing
    assert verdict(np.nan, np.nan, ">", 0) == "unresolved"


def test_large_effects_supported_and_contradicted():
    # hifi 10 points above random_heads and 5 above full; sam 10 points below full and below random_mask
    df = frame(shifted({"full": 0.0, "hifi": 0.05, "random_heads": -0.05, "sam": -0.10, "random_mask": 0.0}))
    c = claims_table(df, n_boot=N_BOOT)
    assert list(c.columns) == CLAIM_COLUMNS
    for task in (*TASKS, "avg"):
        assert row(c, "hifi - random_heads > 0", task).verdict == "supported"
        assert row(c, "hifi - full >= -1", task).verdict == "supported"
        assert row(c, "sam - full >= -1", task).verdict == "contradicted"
        assert row(c, "sam - random_mask > 0", task).verdict == "contradicted"
    r = row(c, "hifi - random_heads > 0")
    assert r.n_pairs == 15 and r.mean_diff == pytest.approx(10.0)
    assert "**supported**" in claims_markdown(c) and "**contradicted**" in claims_markdown(c)


def test_noise_only_unresolved_and_ci_holds_true_mean():
    # hifi − random_heads = 0 + noise; hifi − full = −1 + noise (right at the claim's boundary); sam − full = +3 + noise
    df = frame(shifted({"full": 0.0, "hifi": -0.01, "random_heads": -0.01, "sam": 0.03}))
    c = claims_table(df, n_boot=N_BOOT)
    for task in (*TASKS, "avg"):
        r = row(c, "hifi - random_heads > 0", task)
        assert r.verdict == "unresolved" and r.mean_diff == pytest.approx(0.0, abs=1e-9) and r.ci_low < 0 < r.ci_high
        r = row(c, "hifi - full >= -1", task)
        assert r.verdict == "unresolved" and r.mean_diff == pytest.approx(-1.0) and r.ci_low < -1 < r.ci_high
        r = row(c, "sam - full >= -1", task)
        assert r.mean_diff == pytest.approx(3.0) and r.ci_low < 3.0 < r.ci_high     # the CI holds the true mean
    assert (c[c.claim == "sam - random_mask > 0"].n_pairs == 0).all()                # no random_mask runs
    assert (c[c.claim == "sam - random_mask > 0"].verdict == "unresolved").all()


def test_bootstrap_is_reproducible():
    df = frame(shifted({"full": 0.0, "hifi": 0.002, "random_heads": 0.0}))
    a, b = claims_table(df, n_boot=500, seed=3), claims_table(df, n_boot=500, seed=3)
    pd.testing.assert_frame_equal(a, b)


def test_only_finished_same_task_same_seed_pairs(tmp_path):
    def rec(task, method, seed, main, status="ok", group="main"):
        save_record(RunRecord(task=task, method=method, seed=seed, name=method, group=group, status=status, main=main),
                    tmp_path / f"{task}__{method}__{seed}__{group}__{status}.json")
    for s in range(4):
        rec("rte", "full", s, 0.60); rec("rte", "hifi", s, 0.70)
    rec("rte", "hifi", 4, 0.70)                              # no full run at seed 4: unpaired
    rec("rte", "full", 5, 0.60); rec("rte", "hifi", 5, None, "failed")        # failed hifi: pair dropped
    rec("rte", "full", 6, 0.60); rec("rte", "hifi", 6, None, "diverged")
    rec("rte", "full", 7, 0.60, "failed"); rec("rte", "hifi", 7, 0.70)         # failed full: pair dropped
    rec("rte", "full", 8, 0.60, group="k_sweep"); rec("rte", "hifi", 8, 0.70)  # not a main-table run
    rec("mrpc", "full", 0, 0.80); rec("rte", "hifi", 9, 0.70)                  # other task / other seed: no pair
    df = load_records(tmp_path)
    p = paired_diffs(df, "hifi", "full")
    assert sorted(p.seed) == [0, 1, 2, 3] and set(p.task) == {"rte"} and np.allclose(p["diff"], 10.0)
    c = claims_table(df, tasks=["rte", "mrpc"], n_boot=N_BOOT)
    assert row(c, "hifi - full >= -1", "rte").n_pairs == 4 and row(c, "hifi - full >= -1", "mrpc").n_pairs == 0
    r = row(c, "hifi - full >= -1")
    assert r.n_pairs == 4 and r.mean_diff == pytest.approx(10.0) and r.verdict == "supported"
    assert row(c, "std(hifi) - std(full) < 0", "rte").n_pairs == 4


def test_stability_claims():
    # full spreads ±4 points over seeds, lora ±1: smaller std (supported); bitfit ±8: larger (contradicted);
    # hifi scores identical to full's: the same std, CI [0, 0]: neither smaller nor larger shown
    sc = {}
    for i, t in enumerate(TASKS):                          # the same seed order for all: std(m) − std(full) keeps its sign
        sc[("full", t)] = list(0.6 + 2 * np.roll(NOISE, i))
        sc[("lora", t)] = list(0.6 + 0.5 * np.roll(NOISE, i))
        sc[("bitfit", t)] = list(0.6 + 4 * np.roll(NOISE, i))
        sc[("hifi", t)] = sc[("full", t)]
    c = claims_table(frame(sc), n_boot=N_BOOT)
    r = row(c, "std(lora) - std(full) < 0")
    assert r.verdict == "supported" and r.mean_diff == pytest.approx(100 * (0.5 - 2) * NOISE.std(ddof=1))
    assert row(c, "std(bitfit) - std(full) < 0").verdict == "contradicted"
    r = row(c, "std(hifi) - std(full) < 0")
    assert r.verdict == "unresolved" and r.ci_low == 0 and r.ci_high == 0
    assert row(c, "std(sam) - std(full) < 0").verdict == "unresolved"          # no sam runs


def test_task_no_method_learned_is_left_out_of_the_check_average():
    # hifi 0.8 points below random heads and sam 1.5 below full on the three tasks, no noise; on WSC every run of
    # every method answers the majority class: the main average (the papers' own, over all tasks) is pulled
    # towards 0 by a quarter, `avg_learned` over the three is not
    sc = shifted({"full": 0.0, "hifi": -0.008, "random_heads": 0.0, "sam": -0.015}, noise=False)
    for m in ("full", "hifi", "random_heads", "sam"): sc[(m, "wsc")] = [0.63] * 5
    df = frame(sc)
    df["top_class_share"] = np.where(df.task == "wsc", 1.0, 0.55)
    assert one_class_tasks(df) == ["wsc"]
    c = claims_table(df, n_boot=500)
    for claim, diff in (("hifi - random_heads > 0", -0.8), ("sam - full >= -1", -1.5)):
        a, al = row(c, claim), row(c, claim, "avg_learned")
        assert a.mean_diff == pytest.approx(diff * 3 / 4) and a.n_tasks == 4 and a.excluded == ""
        assert al.mean_diff == pytest.approx(diff) and al.n_tasks == 3 and al.excluded == "wsc" and al.n_pairs == 15
    assert row(c, "sam - full >= -1").verdict == "contradicted" and row(c, "sam - full >= -1", "avg_learned").verdict == "contradicted"
    assert row(c, "std(sam) - std(full) < 0", "avg_learned").n_tasks == 3
    assert "Without the tasks no method learned (WSC" in claims_markdown(c)
    df.loc[(df.task == "wsc") & (df.name == "hifi") & (df.seed == 2), "top_class_share"] = 0.7    # one run learned
    assert one_class_tasks(df) == [] and "avg_learned" not in set(claims_table(df, n_boot=200).task)


def test_t_interval_agrees_with_scipy():
    # one task: the one-sample t interval; two tasks: the mean of a's and −b's means is half of a − b, whose
    # interval is Welch's (scipy's ttest_ind with equal_var=False) halved
    from scipy import stats
    rng = np.random.default_rng(1)
    a, b = rng.normal(1.0, 2.0, 5), rng.normal(0.0, 0.5, 7)
    assert np.allclose(t_interval([a]), tuple(stats.ttest_1samp(a, 0).confidence_interval()), atol=1e-8)
    welch = stats.ttest_ind(a, b, equal_var=False).confidence_interval()
    assert np.allclose(2 * np.array(t_interval([a, -b])), tuple(welch), atol=1e-8)


def test_verdict_needs_both_intervals():
    # differences −0.2, 0.3, 1.0, 1.7, 2.2 on each task (mean 1): the percentile bootstrap's interval stays above 0,
    # the t interval (one task: t(4) = 2.78) does not, so the claim stays unresolved; stability has no t interval
    d = np.array([-0.2, 0.3, 1.0, 1.7, 2.2]) / 100
    df = frame({("random_heads", "rte"): [0.5] * 5, ("hifi", "rte"): list(0.5 + d)})
    r = row(claims_table(df, n_boot=N_BOOT), "hifi - random_heads > 0", "rte")
    assert r.ci_low > 0 and r.t_low < 0 < r.t_high
    assert (r.boot_verdict, r.t_verdict, r.interval_verdict, r.verdict) == ("supported", "unresolved", "unresolved", "unresolved")
    assert "(bootstrap: supported, t: unresolved)" in claims_markdown(claims_table(df, n_boot=N_BOOT))


def test_one_pair_per_task_has_no_interval():
    df = frame({("full", "rte"): [0.6, None, None, None, None], ("hifi", "rte"): [0.7, None, None, None, None]})
    r = row(claims_table(df, n_boot=N_BOOT), "hifi - full >= -1", "rte")
    assert r.n_pairs == 1 and r.mean_diff == pytest.approx(10.0) and np.isnan(r.ci_low) and r.verdict == "unresolved"


def _table1_frame(ranking=("sam", "adapter", "lora", "full", "random_mask", "bitfit")):
    sc = {}
    for j, m in enumerate(ranking):                       # method j scores 0.8 − 0.02 j on every task
        for t in (*TABLE1_TASKS, "sst2"):
            sc[(m, t)] = list(0.8 - 0.02 * j + NOISE / 2) if not (m == "sam" and t == "sst2") else list(0.1 + NOISE)
    return frame(sc)


def test_table1_view_layout_and_ranks():
    tasks = [*TABLE1_TASKS, "sst2"]
    v = table1_view(main_table(_table1_frame(), tasks))
    assert list(v.method) == [m for m in TABLE1_METHODS for _ in (0, 1)]
    assert list(v.source) == ["ours", "paper"] * 6
    assert [f"{t}_mean" for t in (*TABLE1_TASKS, "avg")] == [c for c in v.columns if c.endswith("_mean")]
    o = v[v.source == "ours"].set_index("method")
    p = v[v.source == "paper"].set_index("method")
    assert o.loc["sam", "avg_mean"] == pytest.approx(80.0)                 # avg over the seven tasks: sst2 left out
    assert o.loc["full", "cola_std"] == pytest.approx(100 * NOISE.std(ddof=1) / 2) and o.loc["full", "n_seeds"] == 5
    assert p.loc["sam", "avg_mean"] == SAM_TABLE1["sam"][-1][0] == 77.12 and p.loc["full", "wsc_std"] == 6.18
    # the paper ranks sam, adapter, lora, full, random_mask, bitfit; these runs rank the same: no shift
    assert list(p.rank_paper) == [4, 5, 6, 3, 2, 1] and list(o.rank_ours) == [4, 5, 6, 3, 2, 1] and (o["shift"] == 0).all()
    # reversed: bitfit best in ours (paper 6th: shift +5), sam last (paper 1st: shift −5)
    v2 = table1_view(main_table(_table1_frame(("bitfit", "random_mask", "full", "lora", "adapter", "sam")), tasks))
    o2 = v2[v2.source == "ours"].set_index("method")
    assert o2.loc["bitfit", "rank_ours"] == 1 and o2.loc["bitfit", "shift"] == 5 and o2.loc["sam", "shift"] == -5
    md = table1_markdown(v2)
    assert "| BitFit | ours |" in md and "| 1 | +5 |" in md and "| SAM | ours |" in md and "| 6 | -5 |" in md
    assert "| CoLA | STS-B | MRPC | RTE | CB | COPA | WSC | avg |" in md


def test_table1_view_partial():
    df = _table1_frame()
    df = df[~((df.method == "lora") & (df.task == "wsc")) & (df.method != "adapter")]   # lora lacks wsc, no adapter
    v = table1_view(main_table(df, [*TABLE1_TASKS]))
    o = v[v.source == "ours"].set_index("method")
    assert np.isnan(o.loc["lora", "avg_mean"]) and pd.isna(o.loc["lora", "rank_ours"]) and not np.isnan(o.loc["lora", "cola_mean"])
    assert o.loc["adapter", "n_seeds"] == 0 and pd.isna(o.loc["adapter", "shift"])
    assert list(o.rank_ours.dropna()) == [2, 3, 4, 1]     # full, random_mask, bitfit, sam: the four with every task
    assert "| Adapter | ours | – | – |" in table1_markdown(v)


def test_report_writes_claims_and_table1(tmp_path):
    runs = tmp_path / "runs" / "study"
    for (m, t), vs in shifted({"full": 0.0, "hifi": 0.05, "random_heads": -0.05, "sam": 0.0, "random_mask": 0.0,
                                "adapter": 0.0}).items():
        for s, v in zip(SEEDS, vs):
            save_record(RunRecord(task=t, method=m, seed=s, name=m, main=v, trainable_pct=1.0, seconds=1.0, peak_mem_mb=1.0,
                                  metrics={"main": v, "top_class_share": 0.6}), runs / f"{t}__{m}__{s}.json")
    save_record(RunRecord(task="rte", method="lora", seed=0, name="lora", main=0.5, metrics={"main": 0.5},
                          extra={"collapsed": True}, seconds=1.0, peak_mem_mb=1.0), runs / "rte__lora__0.json")
    rd = tmp_path / "README.md"
    rd.write_text("<!-- results-study:start -->\n<!-- results-study:end -->\n")
    build_report(runs, tmp_path / "out", "study", readme=rd, check=False)
    tables = tmp_path / "out" / "tables"
    c = pd.read_csv(tables / "claims_study.csv")
    assert list(c.columns) == CLAIM_COLUMNS
    assert row(c, "hifi - random_heads > 0").verdict == "supported" and row(c, "hifi - random_heads > 0").n_pairs == 15
    m = pd.read_csv(tables / "main_study.csv")
    assert {"mean", "std", "n_seeds"} <= set(m.columns) and set(m[m.task == "avg"].method) >= {"full", "adapter", "sam"}
    t1 = pd.read_csv(tables / "table1_study.csv")
    assert len(t1) == 12 and {"rank_ours", "rank_paper", "shift"} <= set(t1.columns)
    txt = rd.read_text()
    assert "### Claims (paired, 95% bootstrap and t intervals)" in txt and "### SAM Table 1 view" in txt
    assert txt.index("### The claims in words") < txt.index("### Claims (paired")   # the verdicts in words come first
    assert (tables / "claims_study.md").read_text().startswith("## Claims")
    oc = one_class_runs(load_records(runs))                   # flagged collapsed, no top_class_share: still listed
    assert oc[["name", "task", "seed"]].values.tolist() == [["lora", "rte", 0]]
