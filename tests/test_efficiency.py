"""Fast checks of the efficiency study's measuring code (no timed assertions) and of its committed results."""
import json
import math
import os
from pathlib import Path

import pytest
import torch

from hifi_nb.efficiency import (MACHINE_KEYS, SUMMARY_KEYS, TARGETS, Timing, fit_sizes, machine_info, make_summary,
                                markdown_table, pad_batch, peak_rss_bytes, prefix_costs, ratio, reset_peak_rss,
                                rss_bytes, run_isolated, study_plan, target_table, time_interleaved, time_repeats)

ROOT = Path(__file__).resolve().parents[1]
VALUES = {"scoring_over_forward": 1.05, "reference_over_forward": 4.0, "pagerank_max_iterations_1e-6": 10,
          "hifi_step_over_full": 0.7, "hifi_mem_over_full": 1.2, "hifi_step_over_lora": 0.9, "hifi_ckpt_over_full": 0.05}


def test_median_and_ratio():
    assert Timing("a", [5.0, 1.0, 3.0, 100.0]).median == 4.0          # even count: mean of the middle two
    assert ratio(Timing("a", [3.0, 3.0, 9.0]), Timing("b", [1.0, 2.0, 1.5])) == 2.0
    assert ratio([2.0], 4.0) == 0.5
    with pytest.raises(ValueError, match="positive"):
        ratio(1.0, 0.0)
    with pytest.raises(ValueError, match="no measurements"):
        Timing("empty").median


def test_repeats_and_interleaving_count_calls():
    calls = []
    t = time_repeats(lambda: calls.append(1), repeats=4, warmup=2, sync=lambda: None)
    assert len(calls) == 6 and len(t.times) == 4 and all(x >= 0 for x in t.times)
    order = []
    ts = time_interleaved({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, repeats=2, warmup=0,
                          sync=lambda: None)
    assert order == ["a", "b", "b", "a"] and {k: len(v.times) for k, v in ts.items()} == {"a": 2, "b": 2}
    with pytest.raises(ValueError, match="repeats"):
        time_interleaved({"a": lambda: None}, repeats=0)


def test_prefix_costs_known_values_and_refusal():
    assert prefix_costs(10.0, [10.0, 11.0, 13.0], 16.0, 16.5, [2, 2, 2], [2, 4, 6]) == {2: 1.5, 4: 3.5, 6: 6.5}
    with pytest.raises(ValueError, match="not streaming"):      # all batches requested within microseconds
        prefix_costs(0.0, [0.0, 1e-6, 2e-6], 3e-6, 5.0, [2, 2, 2], [6])
    with pytest.raises(ValueError, match="exactly once"):
        prefix_costs(0.0, [0.0], 1.0, 1.0, [2, 2], [4])


def test_fit_sizes():
    assert fit_sizes([64, 128, 256, 512], 0.5, 100.0) == ([64, 128], [256, 512])
    assert fit_sizes([64], 100.0, 1.0) == ([64], [])


def test_summary_schema_and_targets():
    m = {k: 1 for k in MACHINE_KEYS}
    s = make_summary(VALUES, m, note="x")
    assert set(SUMMARY_KEYS) <= set(s) and s["note"] == "x"
    assert isinstance(s["pagerank_max_iterations_1e-6"], int)
    met = {r["metric"]: r["met"] for r in target_table(s)}
    assert set(met) == set(TARGETS)                # step-time claims come from the step study (block 3b), not here
    assert met["scoring_over_forward"] and not met["hifi_mem_over_full"] and not met["hifi_ckpt_over_full"]
    claims = [dict(metric="sam_step_over_full", batch_size=16, value=0.9, wall=0.95, target="<= 0.8", met=False)]
    pads = [dict(metric="padding_grouped", task="cb", batch_size=16, random=0.4, value=0.05, target="<= 0.1", met=True)]
    rows = target_table(make_summary(VALUES, m, step_claims=claims, padding_claims=pads))
    assert [(r["metric"], r["met"]) for r in rows[-2:]] == [("sam_step_over_full (batch 16)", False), ("padding_grouped (cb)", True)]
    for k in VALUES:
        with pytest.raises(KeyError, match=k.replace("-", r"\-")):
            make_summary({kk: v for kk, v in VALUES.items() if kk != k}, m)
    with pytest.raises(ValueError, match="finite"):
        make_summary(dict(VALUES, scoring_over_forward=math.inf), m)
    with pytest.raises(KeyError, match="device"):
        make_summary(VALUES, {"cores": 2, "threads": 2, "torch": "x"})


def test_machine_record_has_the_keys():
    m = machine_info()
    assert all(k in m for k in MACHINE_KEYS)
    assert m["threads"] == torch.get_num_threads() and m["torch"] == torch.__version__
    assert m["device"] == ("cpu" if not torch.cuda.is_available() else m["device"])


def test_peak_rss_reset_sees_an_allocation():
    if not reset_peak_rss():
        pytest.skip("this OS does not allow resetting the peak RSS")
    base = rss_bytes()
    x = torch.ones(25_000_000)                                   # 100 MB, touched
    del x
    assert peak_rss_bytes() - base > 75 * 2**20


def test_run_isolated_uses_another_process():
    assert run_isolated(os.getpid) != os.getpid()
    assert run_isolated(os.getpid, isolate=False) == os.getpid()


def test_plan_and_helpers():
    q, f = study_plan(True), study_plan(False)
    assert f["batch_size"] == 32 and f["max_length"] == 128 and f["sizes"][0] == 64 and f["sizes"][-1] == 2048
    assert set(q) == set(f)
    with pytest.raises(ValueError, match="unknown methods"):
        study_plan(True, methods=["full", "nope"])
    b = pad_batch({"input_ids": torch.ones(1, 2, dtype=torch.long)}, 4)
    assert b["input_ids"].tolist() == [[1, 1, 0, 0]]
    with pytest.raises(ValueError, match="longer"):
        pad_batch({"input_ids": torch.ones(1, 5, dtype=torch.long)}, 4)
    assert markdown_table([{"x": None, "y": True}]) == "| x | y |\n|---|---|\n| – | yes |\n"


def test_committed_summary_if_present():
    p = ROOT / "results" / "efficiency" / "summary.json"
    if not p.exists():
        pytest.skip("no committed efficiency run yet")
    s = json.loads(p.read_text())
    assert all(k in s for k in SUMMARY_KEYS) and all(k in s["machine"] for k in MACHINE_KEYS)
    assert s.get("mode") == "full"
    for k in SUMMARY_KEYS[:-1]:
        assert isinstance(s[k], (int, float)) and math.isfinite(s[k]) and s[k] > 0


def test_padding_share_and_peak():
    from hifi_nb.efficiency import matmul_peak_gflops, padding_share
    assert padding_share([5] * 64, 8, grouped=False) == 0.0
    lens = [1, 100] * 200
    rnd, grp = padding_share(lens, 8, grouped=False), padding_share(lens, 8, grouped=True)
    assert 0.3 < rnd < 0.55 and grp < 0.1           # grouping puts the short ones together
    # multiple choice: two choices of 2 and 4 tokens, padded to 4 each; grouped by the sum over choices
    assert padding_share([[2, 4]] * 8, 4, grouped=False) == 0.25
    small = [1, 100] * 40                           # 80 examples: the sampler sorts only 2 batches at a time
    assert padding_share(small, 8, grouped=True) > 0.1 and padding_share(small, 8, grouped=True, mega_batch_mult=50) == 0.0
    assert matmul_peak_gflops(n=64, repeats=2) > 0


def test_step_targets_and_committed_steps():
    from hifi_nb.efficiency import STEP_TARGETS, padding_targets, step_targets, steps_markdown
    rows = [dict(method=m, batch_size=16, step_s=s, cpu_s=c) for m, s, c in
            [("full", 2.0, 2.0), ("bitfit", 1.5, 1.4), ("sam", 1.7, 1.58), ("random_mask", 1.5, 1.62), ("hifi", 1.4, 1.44),
             ("lora", 1.6, 1.6)]]
    t = {r["metric"]: (round(r["value"], 4), r["met"]) for r in step_targets(dict(rows=rows, batch_sizes=[16]))}
    assert t == {"sam_step_over_full": (0.79, True), "random_mask_step_over_full": (0.81, False),
                 "hifi_step_over_lora": (0.9, True), "hifi_minus_bitfit_over_full": (0.02, True)}
    walls = {r["metric"]: round(r["wall"], 4) for r in step_targets(dict(rows=rows, batch_sizes=[16]))}
    assert walls["sam_step_over_full"] == 0.85 and walls["hifi_minus_bitfit_over_full"] == -0.05
    no_cpu = [{k: v for k, v in r.items() if k != "cpu_s"} for r in rows]      # older records: wall-clock
    assert round(step_targets(dict(rows=no_cpu, batch_sizes=[16]))[0]["value"], 4) == 0.85
    pad = padding_targets(dict(padding_batch_size=16, padding=[dict(task="cb", batch_size=16, random=0.4, grouped=0.17),
                                                               dict(task="cb", batch_size=32, random=0.4, grouped=0.39)]))
    assert [(r["task"], r["met"]) for r in pad] == [("cb", False)]
    p = ROOT / "results" / "efficiency" / "steps.json"
    if not p.exists():
        pytest.skip("no committed step study yet")
    s = json.loads(p.read_text())
    methods = {r["method"] for r in s["rows"]}
    assert {t[1] for t in STEP_TARGETS} | {t[2] for t in STEP_TARGETS} <= methods
    assert {r["batch_size"] for r in s["rows"]} == {16, 32} and s["peak_gflops"] > 0 and s["padding"]
    assert all(0 < r["share_of_peak"] < 1.5 for r in s["rows"])
    assert all(r["cpu_s"] > 0 for r in s["rows"]) and len(step_targets(s)) == 2 * len(STEP_TARGETS)
    from hifi_nb.profiles import CPU_TASKS
    assert {r["task"] for r in padding_targets(s)} == set(CPU_TASKS)
