"""kernel_model.sweep: vectorised closed form, checked against simulate() row by row."""
import dataclasses
import itertools
import math
import sys

import numpy as np
import pytest

import kernel_model as km
from kernel_model import hardware
from kernel_model.sweep import sweep, sweep_keys, _chunks

REL = 1e-9
METRICS = ("tpot_s", "ttft_s", "e2e_s", "output_tokens_per_s")


def _rel(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def _scenario_kwargs(row, keys):
    kw = {}
    for k in keys:
        v = row[k]
        kw[k] = v.item() if hasattr(v, "item") else v
    return kw


def _check_row(row, res):
    for m in METRICS:
        assert _rel(row[m], getattr(res, m)) <= REL, (m, row[m], getattr(res, m))
    for c, v in res.breakdown.items():
        assert _rel(row[f"{c}_s"], v) <= REL or (row[f"{c}_s"] == 0 and v == 0), c
    for col, key in (("weights_bytes", "weights"), ("kv_cache_bytes", "kv_cache"),
                     ("activations_bytes", "activations"), ("memory_bytes", "total"),
                     ("capacity_bytes", "capacity")):
        assert _rel(row[col], res.memory[key]) <= REL, col
    assert row["bottleneck"] == res.bottleneck
    assert row["dominant"] == res.dominant
    assert bool(row["fits"]) == res.fits
    assert int(row["num_gpus"]) == res.num_gpus
    assert _rel(row["tokens_per_s_per_gpu"], res.output_tokens_per_s / res.num_gpus) <= REL


MIXED = {
    "model": ["llama-2-13b", "mixtral-8x7b", "llama-3-70b"],
    "gpu": ["h100-sxm", "rtx-4090"],
    "interconnect": ["nvlink4", "pcie4_bad", "ib_ndr"],
    "tp": [1, 2, 4, 8, 5],
    "pp": [1, 2, 3],
    "ep": [1, 2, 4],
    "batch": [1, 3, 64],
    "prompt_tokens": [16, 2000],
    "output_tokens": [1, 300],
    "weight_bits": [16, 8, 4],
    "kv_bits": [16, 8],
    "comm_bits": [16, 8],
    "micro_batches": [1, 2],
    "overlap": [0.0, 0.7],
    "comm_group": [1, 4],
    "flash_attention": [True, False],
    "gpus_per_node": [8, 4],
}


@pytest.fixture(scope="module")
def mixed():
    return sweep(MIXED, progress=False)


def test_sweep_matches_simulate_on_a_random_sample(mixed):
    df = mixed
    assert len(df) == math.prod(len(v) for v in MIXED.values())
    rng = np.random.default_rng(7)
    valid_idx = np.flatnonzero(df["valid"].to_numpy())
    assert len(valid_idx) > 1000
    for i in rng.choice(valid_idx, 150, replace=False):
        row = df.iloc[i]
        res = km.simulate(km.Scenario(**_scenario_kwargs(row, MIXED)))
        _check_row(row, res)


def test_invalid_rows_are_exactly_those_scenario_rejects(mixed):
    df = mixed
    rng = np.random.default_rng(3)
    bad = np.flatnonzero(~df["valid"].to_numpy())
    assert df.attrs["invalid"] == len(bad) > 0
    for i in rng.choice(bad, 150, replace=False):
        row = df.iloc[i]
        with pytest.raises(ValueError):
            km.Scenario(**_scenario_kwargs(row, MIXED))
        assert row["error"] != ""
        assert np.isnan(row["tpot_s"]) and not row["fits"] and row["num_gpus"] == 0


def test_validity_exhaustive_small_grid():
    grid = {"model": ["llama-2-70b", "mixtral-8x7b"], "interconnect": ["nvlink", "none"],
            "tp": [1, 2, 3, 16], "pp": [1, 2], "ep": [1, 2, 3], "batch": [1, 2],
            "micro_batches": [1, 2], "algorithm": ["auto", "in_switch"]}
    df = sweep(grid, progress=False)
    for _, row in df.iterrows():
        kw = _scenario_kwargs(row, grid)
        try:
            km.Scenario(**kw)
            ok = True
        except ValueError:
            ok = False
        assert ok == bool(row["valid"]), (kw, row["error"])


def test_rows_follow_product_order_with_a_string_field_last():
    grid = {"batch": [1, 4], "tp": [1, 2], "model": ["llama-2-7b", "llama-2-13b"]}
    df = sweep(grid, progress=False)
    expect = list(itertools.product(*grid.values()))
    got = list(zip(df["batch"], df["tp"], df["model"].astype(str)))
    assert got == expect
    for (b, t, m), tpot in zip(expect, df["tpot_s"]):
        assert _rel(tpot, km.simulate(model=m, tp=t, batch=b).tpot_s) <= REL


def test_invalid_modes():
    grid = {"model": ["llama-2-7b"], "tp": [1, 3]}
    marked = sweep(grid, progress=False)
    dropped = sweep(grid, invalid="drop", progress=False)
    assert list(marked["valid"]) == [True, False]
    assert "32 attention heads" in marked["error"].iloc[1]
    assert len(dropped) == 1 and dropped.attrs["invalid"] == 1 and dropped["tp"].iloc[0] == 1
    with pytest.raises(ValueError, match="tp=3"):
        sweep(grid, invalid="raise", progress=False)
    with pytest.raises(ValueError, match="invalid="):
        sweep(grid, invalid="ignore")


def test_group_level_invalid_combination_is_marked():
    df = sweep({"interconnect": ["pcie4_bad", "nvlink4"], "algorithm": ["in_switch"], "tp": [2]},
               progress=False)
    assert list(df["valid"]) == [False, True]
    assert "in_switch" in df["error"].iloc[0]
    assert _rel(df["tpot_s"].iloc[1], km.simulate(interconnect="nvlink4", algorithm="in_switch",
                                                  tp=2).tpot_s) <= REL


def test_link_axes_equal_simulate_with_that_link(monkeypatch):
    link = hardware.INTERCONNECTS["pcie4_bad"]
    base = {"model": "llama-2-13b", "gpu": "rtx-4090", "interconnect": "pcie4_bad", "tp": 4,
            "batch": 8}
    df = sweep(dict(base, link_bw_gbps=[link.bw_gbps, 40.0], link_latency_us=[link.latency_s * 1e6, 5.0]),
               progress=False)
    assert _rel(df["tpot_s"].iloc[0], km.simulate(**base).tpot_s) <= REL
    monkeypatch.setitem(hardware.INTERCONNECTS, "pcie4_bad",
                        dataclasses.replace(link, bw_gbps=40.0, latency_s=5e-6))
    res = km.simulate(**base)
    _check_row(df.iloc[3], res)


def test_link_axes_on_a_network_preset_move_the_inter_node_link_too(monkeypatch):
    link = hardware.INTERCONNECTS["ib_hdr"]
    base = {"model": "llama-2-13b", "gpu": "a100-sxm-80gb", "interconnect": "ib_hdr", "tp": 4}
    df = sweep(dict(base, link_bw_gbps=[100.0]), progress=False)
    monkeypatch.setitem(hardware.INTERCONNECTS, "ib_hdr", dataclasses.replace(link, bw_gbps=100.0))
    _check_row(df.iloc[0], km.simulate(**base))


def test_more_bandwidth_or_less_latency_is_never_slower():
    df = sweep({"model": ["llama-2-70b"], "gpu": ["a100-sxm-80gb"], "interconnect": ["nvlink", "pcie4_bad"],
                "tp": [2, 8], "batch": [1, 32], "link_bw_gbps": [5, 12, 50, 150, 600],
                "link_latency_us": [50, 10, 1]}, progress=False)
    t = df["tpot_s"].to_numpy().reshape(2, 2, 2, 5, 3)
    assert (np.diff(t, axis=3) <= 1e-15).all()
    assert (np.diff(t, axis=4) <= 1e-15).all()
    assert (np.diff(t, axis=3) < 0).any()


def test_bad_grids_name_the_field():
    with pytest.raises(ValueError, match="closest: tp"):
        sweep({"tpp": [1]})
    with pytest.raises(ValueError, match="batch: the list of values is empty"):
        sweep({"batch": []})
    with pytest.raises(ValueError, match="tp=0"):
        sweep({"tp": [1, 0]})
    with pytest.raises(ValueError, match="weight_bits=3.*4, 8, 16"):
        sweep({"weight_bits": [3]})
    with pytest.raises(ValueError, match="overlap=1.5"):
        sweep({"overlap": [1.5]})
    with pytest.raises(ValueError, match="closest: llama-2-70b"):
        sweep({"model": ["llama-2-70"]})
    with pytest.raises(ValueError, match="link_bw_gbps=0"):
        sweep({"link_bw_gbps": [0]})
    assert set(km.Scenario.field_names()) < set(sweep_keys())


def test_scalar_values_and_no_grid():
    one = sweep({"model": "llama-2-7b", "tp": 2}, progress=False)
    assert len(one) == 1 and _rel(one["tpot_s"].iloc[0], km.simulate(tp=2).tpot_s) <= REL
    empty = sweep({}, progress=False)
    assert len(empty) == 1 and _rel(empty["tpot_s"].iloc[0], km.simulate().tpot_s) <= REL


def test_one_set_of_rules_and_derived_params_shared_by_simulate_and_sweep(monkeypatch):
    """No second copy to drift: simulate.params and sweep both run tables.derive, and both
    check plans with rules.plan_codes (an extra rule added there reaches both)."""
    from kernel_model import rules, tables
    sweep_mod = sys.modules["kernel_model.sweep"]
    assert sweep_mod.sweep is sweep
    assert not hasattr(sweep_mod, "build_params") and not hasattr(sweep_mod, "_probe")
    seen = []
    real_derive = tables.derive
    monkeypatch.setattr(tables, "derive", lambda T: seen.append(np.shape(T["tp"])) or real_derive(T))
    km.simulate(tp=2)
    sweep({"tp": [1, 2, 4]}, progress=False)
    assert seen == [(), (3,)]
    real_codes = rules.plan_codes

    k = rules.PLAN_RULES.index("tp_heads") + 1

    def no_tp4(T):                               # a new rule: tp=4 forbidden
        code = real_codes(T)
        return np.where((code == 0) & (np.asarray(T["tp"]) == 4), k, code) \
            if isinstance(code, np.ndarray) else (k if code == 0 and T["tp"] == 4 else code)

    monkeypatch.setattr(rules, "plan_codes", no_tp4)
    with pytest.raises(ValueError, match="tp=4 does not divide"):
        km.Scenario(tp=4)
    df = sweep({"tp": [1, 2, 4]}, progress=False)
    assert list(df["valid"]) == [True, True, False]


def test_chunking_covers_every_element_once():
    for shape in [(4, 3, 4, 8), (1000,), (3, 70000), (2, 2), ()]:
        seen = np.zeros(shape, dtype=int)
        for sl in _chunks(shape, 1000):
            seen[sl] += 1
        assert (seen == 1).all()


def test_small_chunks_give_the_same_numbers():
    grid = {"model": ["llama-2-7b"], "tp": [1, 2, 4], "batch": [1, 2, 4, 8], "prompt_tokens": [10, 100, 1000]}
    a = sweep(grid, progress=False)
    b = sweep(grid, progress=False, chunk=5)
    assert np.array_equal(a["tpot_s"].to_numpy(), b["tpot_s"].to_numpy())


def test_progress_bar_counts_every_scenario(monkeypatch):
    import kernel_model.progress as prog
    seen = []

    class Fake:
        def __init__(self, total, **kw):
            self.total = total
            seen.append(self)
            self.n = 0
            self.closed = False

        def update(self, n):
            self.n += n

        def close(self):
            self.closed = True

    monkeypatch.setattr(prog, "progress_bar", lambda total, **kw: Fake(total, **kw))
    grid = {"tp": [1, 2, 3, 4], "batch": [1, 2, 4], "prompt_tokens": list(range(1, 200))}
    sweep(grid, progress=True, chunk=100)
    assert len(seen) == 1 and seen[0].n == seen[0].total == 4 * 3 * 199 and seen[0].closed
    seen.clear()
    sweep(grid, progress=False)
    assert not seen


def test_ttft_breakdown_columns_sum_to_ttft():
    df = sweep({"tp": [1, 2], "pp": [1, 2], "micro_batches": [1, 2], "batch": [4]},
               ttft_breakdown=True, progress=False)
    cols = [f"ttft_{c}_s" for c in km.simulate().ttft_breakdown]
    parts = df[cols].sum(axis=1)
    assert np.allclose(parts, df["ttft_s"], rtol=1e-12)
    res = km.simulate(tp=2, pp=2, micro_batches=2, batch=4)
    row = df[(df.tp == 2) & (df.pp == 2) & (df.micro_batches == 2)].iloc[0]
    for c, v in res.ttft_breakdown.items():
        assert abs(row[f"ttft_{c}_s"] - v) <= 1e-9 * max(res.ttft_s, 1e-300)


def test_engine_modules_stay_free_of_widgets_and_pandas_on_import(python_ok):
    code = ("import sys, kernel_model.sweep, kernel_model.optimize, kernel_model.progress, "
            "kernel_model.cli; bad = [m for m in ('ipywidgets', 'bqplot', 'pandas', 'tqdm') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    python_ok(code)


def test_notebook_progress_bar_without_ipywidgets(python_ok):
    code = ("import sys\n"
            "from IPython.core.interactiveshell import InteractiveShell\n"
            "import kernel_model.progress as p\n"
            "class ZMQInteractiveShell(InteractiveShell): pass\n"
            "sh = ZMQInteractiveShell.instance()\n"
            "assert p.in_notebook()\n"
            "bar = p.progress_bar(10, desc='sweep', unit='scenarios')\n"
            "bar.update(10); bar.close()\n"
            "assert type(bar).__name__ == 'HtmlBar', type(bar)\n"
            "assert 'ipywidgets' not in sys.modules\n")
    python_ok(code)


STACKED = {
    "model": ["llama-2-7b", "mixtral-8x7b", "deepseek-v2-lite", "opt-13b"],
    "gpu": ["h100-sxm", "a100-sxm-80gb", "rtx-4090"],
    "interconnect": ["nvlink4", "pcie4_bad", "ib_ndr", "none"],
    "tp": [1, 2, 4],
    "pp": [1, 2],
    "ep": [1, 2],
    "batch": [16],
    "prompt_tokens": [100, 3000],
    "weight_bits": [16, 4],
    "micro_batches": [2],
    "algorithm": ["auto", "in_switch", "tree"],
    "runtime": ["compiled", "vllm", "eager_server"],
    "weight_format": ["auto", "nvfp4", "fp8"],
    "efficiency": [None, {"hbm_efficiency": 0.7, "collective_step_s": 2e-6}],
    "layers": [None, 6],
}


def test_stacked_sweep_equals_simulate_to_1e12_in_every_group():
    """Every model / GPU / link / algorithm / runtime / calibration / layers group is in one
    stacked evaluation; random valid rows of each group equal simulate() to 1e-12."""
    df = sweep(STACKED, progress=False)
    groups = ["model", "gpu", "interconnect", "algorithm", "runtime", "weight_format",
              "efficiency", "layers"]
    rng = np.random.default_rng(11)
    keycols = pd_codes(df, groups)
    checked = set()
    valid = df["valid"].to_numpy()
    for g in np.unique(keycols):
        rows = np.flatnonzero((keycols == g) & valid)
        if not len(rows):
            continue
        for i in rng.choice(rows, min(3, len(rows)), replace=False):
            row = df.iloc[i]
            res = km.simulate(km.Scenario(**_scenario_kwargs(row, STACKED)))
            for m in METRICS:
                assert _rel(row[m], getattr(res, m)) <= 1e-12, (m, dict(row))
            for c, v in res.breakdown.items():
                assert _rel(row[f"{c}_s"], v) <= 1e-12 or row[f"{c}_s"] == v == 0
            assert _rel(row["memory_bytes"], res.memory["total"]) <= 1e-12
            assert row["bottleneck"] == res.bottleneck and row["dominant"] == res.dominant
            checked.add(g)
    assert len(checked) > 1000


def pd_codes(df, cols):
    """One integer per distinct combination of ``cols`` (object columns by their repr)."""
    code = np.zeros(len(df), dtype=np.int64)
    for c in cols:
        _, inv = np.unique(np.array([repr(x) for x in df[c]]), return_inverse=True)
        code = code * (inv.max() + 1) + inv
    return code


def test_evaluate_scenarios_is_one_stacked_pass_equal_to_simulate(monkeypatch):
    """The dashboard's API: several scenarios (different models, links, tp) in one evaluate()."""
    sim = sys.modules["kernel_model.simulate"]
    scs = [km.Scenario(model="llama-2-70b", gpu="h100-sxm", interconnect=ic, tp=tp, batch=b)
           for ic in ("nvlink4", "pcie4_bad", "ib_ndr") for tp in (2, 8) for b in (1, 32)]
    scs.append({"model": "mixtral-8x7b", "tp": 2, "ep": 2})
    calls = []
    real = sim.evaluate
    monkeypatch.setattr(sim, "evaluate", lambda P: calls.append(1) or real(P))
    out = km.evaluate_scenarios(scs)
    assert len(calls) == 1
    monkeypatch.setattr(sim, "evaluate", real)
    for i, sc in enumerate(scs):
        res = km.simulate(sc)
        assert _rel(out["tpot_s"][i], res.tpot_s) <= 1e-12
        assert _rel(out["ttft_s"][i], res.ttft_s) <= 1e-12
        assert _rel(out["memory"]["total"][i], res.memory["total"]) <= 1e-12
        for c, v in res.breakdown.items():
            assert _rel(out["breakdown"][c][i], v) <= 1e-12 or out["breakdown"][c][i] == v == 0
        assert out["bottleneck"][i] == res.bottleneck and out["num_gpus"][i] == res.num_gpus


def test_fill_equals_numpy_broadcast_assignment():
    fill = sys.modules["kernel_model.sweep"]._fill
    rng = np.random.default_rng(5)
    for _ in range(300):
        shape = tuple(int(x) for x in rng.integers(1, 5, size=rng.integers(1, 7)))
        xs = tuple(n if rng.random() < 0.5 else 1 for n in shape)
        x = rng.random(xs[rng.integers(0, len(xs)):] if rng.random() < 0.3 else xs)
        want = np.empty(shape)
        want[...] = x
        got = np.full(shape, np.nan)
        fill(got, x)
        assert np.array_equal(got, want), (shape, np.shape(x))
    got = np.zeros((3, 4))
    fill(got, 2.5)
    assert (got == 2.5).all()
