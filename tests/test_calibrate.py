"""kernel_model.calibrate: the search, the fit, calibration profiles."""
import json

import numpy as np
import pandas as pd
import pytest

import kernel_model as km
from kernel_model import calibrate as C
from kernel_model import validate as V
from kernel_model.simulate import params

SCEN = [  # (model, interconnect, tp, batch, prompt, output, metric)
    ("llama-2-7b", "none", 1, 1, 128, 256, "tpot_ms"),
    ("llama-2-7b", "none", 1, 32, 128, 256, "tpot_ms"),
    ("llama-2-7b", "none", 1, 1, 2048, 16, "ttft_ms"),
    ("llama-2-7b", "none", 1, 1, 128, 16, "ttft_ms"),
    ("llama-2-13b", "nvlink", 2, 1, 200, 200, "e2e_latency_s"),
    ("llama-2-13b", "nvlink", 8, 1, 200, 200, "e2e_latency_s"),
    ("llama-2-70b", "nvlink", 8, 16, 512, 128, "tpot_ms"),
    ("llama-2-70b", "nvlink", 4, 1, 1024, 64, "ttft_ms"),
    ("gpt-20b", "nvlink", 4, 64, 128, 20, "e2e_latency_s"),
    ("gpt-20b", "none", 1, 1, 80, 200, "e2e_latency_s"),
]


def synthetic(efficiency=None, noise=None):
    """A measurements frame whose values are the engine's own predictions."""
    rows = []
    for i, (model, ic, tp, b, p, o, metric) in enumerate(SCEN):
        res = km.simulate(km.Scenario(model=model, gpu="a100-sxm-80gb", interconnect=ic, tp=tp,
                                      batch=b, prompt_tokens=p, output_tokens=o,
                                      efficiency=efficiency))
        key, scale, _ = V.METRICS[metric]
        v = getattr(res, key) * scale * (1.0 + (noise[i] if noise is not None else 0.0))
        rows.append(dict(id=f"s{i}", source="synthetic", framework="engine", gpu="a100-sxm-80gb",
                         num_gpus=tp, interconnect=ic, model=model, weight_bits=16, tp=tp, pp=1,
                         ep=1, batch=b, prompt_tokens=p, output_tokens=o, metric=metric, value=v))
    return pd.DataFrame(rows)


def test_calibration_keys_hold_the_field_values():
    keys = C.calibration_keys()
    assert set(keys) == set(C.numeric_fields())
    sc = km.Scenario(model="llama-2-13b", gpu="h100-sxm", interconnect="nvlink4", tp=4)
    for f, k in keys.items():
        if k is None:
            continue
        v = 0.55 if f.endswith("efficiency") else 2.5 if f == "roofline_exponent" else 7.5e-6
        assert params(sc.replace(efficiency={f: v}))[k] == pytest.approx(v)


def test_pattern_search_and_nelder_mead_find_a_bounded_minimum():
    target = np.array([0.3, 0.8, 0.55])
    f = lambda u: float(np.sum((u - target) ** 2))
    x, fx, n = C.pattern_search(f, np.full(3, 0.5))
    assert np.allclose(x, target, atol=5e-3) and n > 3
    x2, fx2, _ = C.nelder_mead(f, x)
    assert fx2 <= fx and np.allclose(x2, target, atol=5e-3)
    # minimum outside the cube: the search stops on the face
    g = lambda u: float((u[0] - 1.7) ** 2 + (u[1] - 0.2) ** 2)
    y, _, _ = C.pattern_search(g, np.array([0.5, 0.5]))
    assert y[0] == pytest.approx(1.0) and y[1] == pytest.approx(0.2, abs=5e-3)


def test_fit_recovers_known_parameters_from_synthetic_measurements():
    truth = {"flops_efficiency": 0.6, "hbm_efficiency": 0.7, "launch_overhead_s": 6e-6}
    df = synthetic(truth)
    cal, rep = C.fit(df, params=tuple(truth))
    for k, v in truth.items():
        assert getattr(cal, k) == pytest.approx(v, rel=0.03), k
    assert rep["mape_after"] < 0.5 < rep["mape_before"]
    assert rep["loss_after"] <= rep["loss_before"]
    assert list(rep["parameters"]["name"]) == list(truth)
    # fields not fitted keep the engine's values
    d = C.engine_default()
    assert cal.collective_overhead_s == d.collective_overhead_s
    assert cal.roofline_exponent == d.roofline_exponent


def test_fit_report_mape_matches_validate_and_stays_in_bounds():
    rng = np.random.default_rng(3)
    df = synthetic({"hbm_efficiency": 0.65}, noise=rng.uniform(-0.1, 0.1, len(SCEN)))
    cal, rep = C.fit(df, loss="log", max_evals=600)
    s = V.summarize(V.validate(df, calibration=cal))
    assert rep["mape_after"] == pytest.approx(s["overall"], rel=1e-9)
    assert rep["loss_after"] <= rep["loss_before"]
    for _, r in rep["parameters"].iterrows():
        lo, hi = C.BOUNDS[r["name"]][:2]
        assert lo - 1e-15 <= r["fitted"] <= hi + 1e-15
        assert r["fitted"] == pytest.approx(getattr(cal, r["name"]))


def test_custom_bounds_are_respected_and_flagged():
    df = synthetic({"hbm_efficiency": 0.8})
    cal, rep = C.fit(df, params=("hbm_efficiency",), bounds={"hbm_efficiency": (0.4, 0.5)})
    assert cal.hbm_efficiency == pytest.approx(0.5, abs=1e-3)
    assert bool(rep["parameters"]["at_bound"].iloc[0])


def test_fit_starts_from_a_given_calibration():
    df = synthetic({"hbm_efficiency": 0.7})
    start = C.make_calibration({"launch_overhead_s": 9e-6, "hbm_efficiency": 0.9})
    cal, rep = C.fit(df, params=("hbm_efficiency",), start=start)
    assert rep["parameters"]["start"].iloc[0] == pytest.approx(0.9)
    assert cal.launch_overhead_s == pytest.approx(9e-6)       # kept, not fitted


@pytest.mark.parametrize("kw,match", [
    (dict(params=("hbm_eficiency",)), "closest: hbm_efficiency"),
    (dict(params=("source",)), "not a calibration field"),
    (dict(loss="l2"), "loss='l2'"),
    (dict(bounds={"hbm_efficiency": (0.9, 0.5)}), "bounds"),
])
def test_fit_rejects_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        C.fit(synthetic(), **kw)


def test_profile_round_trip(tmp_path):
    cal = C.make_calibration({"hbm_efficiency": 0.77, "collective_overhead_s": 2.5e-5},
                             source="test")
    p = tmp_path / "prof.json"
    C.save_profile(cal, p, {"loss": "mape", "parameters": pd.DataFrame([{"name": "x"}])})
    back = C.load_profile(p)
    assert back == cal
    doc = json.loads(p.read_text())
    assert doc["format"] == C.PROFILE_FORMAT and doc["fit"]["parameters"] == [{"name": "x"}]
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps({"hbm_efficiency": 0.6}))
    f = C.load_profile(flat)
    assert f.hbm_efficiency == 0.6
    assert f.flops_efficiency == C.engine_default().flops_efficiency
    res = km.simulate(model="llama-2-7b", efficiency=V.efficiency_dict(f))
    ref = km.simulate(model="llama-2-7b", efficiency={"hbm_efficiency": 0.6})
    assert res.tpot_s == ref.tpot_s


@pytest.mark.parametrize("text,match", [
    ('{"hbm_efficiency": 0.7', r"not valid JSON \(line 1"),
    ('{"hbm_eficiency": 0.7}', "closest: hbm_efficiency"),
    ('{"hbm_efficiency": 1.7}', r"must be in \(0, 1\]"),
    ('[1, 2]', "JSON object"),
])
def test_bad_profiles_name_the_file(tmp_path, text, match):
    p = tmp_path / "bad.json"
    p.write_text(text)
    with pytest.raises(ValueError, match=match) as e:
        C.load_profile(p)
    assert str(p) in str(e.value)


def test_cli_fit_prints_and_saves_the_profile(tmp_path, capsys):
    csv = tmp_path / "m.csv"
    synthetic({"hbm_efficiency": 0.7}).to_csv(csv, index=False)
    prof = tmp_path / "fitted.json"
    assert V.cli_main([str(csv), "--fit", "--save-profile", str(prof)]) == 0
    out = capsys.readouterr().out
    for name in C.DEFAULT_PARAMS:
        assert name in out
    cal = C.load_profile(prof)
    s = V.summarize(V.validate(csv, calibration=cal))
    assert f"MAPE overall: {s['overall']:.1f} %" in out
    assert V.cli_main([str(csv), "--save-profile", str(prof)]) == 2


def test_fit_uses_training_rows_when_the_training_model_exists(tmp_path):
    if V.training_function() is None:
        pytest.skip("kernel_model.training not available")
    from kernel_model.training import simulate_training
    truth = {"flops_efficiency": 0.55}
    rows = []
    for i, (m, tp, pp, gb) in enumerate([("gpt-22b", 8, 1, 4), ("gpt-22b", 4, 2, 8)]):
        t = simulate_training(model=m, gpu="a100-sxm-80gb", seq_len=2048, global_batch=gb,
                              micro_batch=1, dp=1, tp=tp, pp=pp, recompute="full",
                              efficiency=truth).iteration_s
        rows.append(dict(id=f"t{i}", source="syn", gpu="a100-sxm-80gb", model=m, seq_len=2048,
                         global_batch=gb, micro_batch=1, dp=1, tp=tp, pp=pp, recompute="full",
                         sequence_parallel="false", metric="iteration_s", value=t))
    cal, rep = C.fit(pd.DataFrame(rows), params=("flops_efficiency",), max_evals=200)
    assert rep["rows"] == 2
    assert cal.flops_efficiency == pytest.approx(0.55, rel=0.02)


# ---- per GPU family ------------------------------------------------------------------------
HOPPER = {"families": {"hopper": {"launch_overhead_s": 5e-6}}}


def test_family_overrides_reach_only_that_family_by_hand():
    d = km.DEFAULT_CALIBRATION
    kw = dict(model="llama-2-7b", interconnect="none")
    h0, h1 = km.simulate(gpu="h100-sxm", **kw), km.simulate(gpu="h100-sxm", efficiency=HOPPER, **kw)
    # every kernel's launch gap scales with the field (no host time on the default runtime)
    assert h1.breakdown["launch_overhead"] == pytest.approx(
        h0.breakdown["launch_overhead"] * 5e-6 / d.launch_overhead_s, rel=1e-12)
    assert h1.breakdown["hbm"] == h0.breakdown["hbm"]
    a0, a1 = km.simulate(gpu="a100-sxm-80gb", **kw), km.simulate(gpu="a100-sxm-80gb", efficiency=HOPPER, **kw)
    assert a1.tpot_s == a0.tpot_s
    # a flat override applies everywhere, the family's own value wins for its GPUs
    both = {"launch_overhead_s": 8e-6, **HOPPER}
    assert km.Scenario(gpu="a100-sxm-80gb", efficiency=both).calibration().launch_overhead_s == 8e-6
    assert km.Scenario(gpu="h200-sxm", efficiency=both).calibration().launch_overhead_s == 5e-6


@pytest.mark.parametrize("eff,match", [
    ({"families": {"hoper": {"launch_overhead_s": 5e-6}}}, "'hoper' is not a GPU family; closest: hopper"),
    ({"families": {"hopper": {"launch_overhed_s": 5e-6}}}, r"families\['hopper'\] field 'launch_overhed_s' is unknown; closest: launch_overhead_s"),
    ({"families": {"hopper": {"hbm_efficiency": 1.5}}}, r"must be in \(0, 1\]"),
    ({"families": ["hopper"]}, "must be a dict"),
])
def test_bad_family_overrides_name_what_is_wrong(eff, match):
    with pytest.raises(ValueError, match=match):
        km.Scenario(gpu="h100-sxm", efficiency=eff)


def _mixed(efficiency=None):
    """Synthetic rows on an A100 and an H100 system."""
    rows = []
    for i, (gpu, ic, tp, b) in enumerate([("a100-sxm-80gb", "none", 1, 1), ("a100-sxm-80gb", "nvlink", 4, 8),
                                          ("h100-sxm", "none", 1, 1), ("h100-sxm", "nvlink4", 8, 1),
                                          ("h100-sxm", "nvlink4", 2, 16)]):
        res = km.simulate(model="llama-2-13b", gpu=gpu, interconnect=ic, tp=tp, batch=b,
                          prompt_tokens=128, output_tokens=64, efficiency=efficiency)
        rows.append(dict(id=f"m{i}", source="synthetic", framework="engine", gpu=gpu, num_gpus=tp,
                         interconnect=ic, model="llama-2-13b", weight_bits=16, tp=tp, pp=1, ep=1,
                         batch=b, prompt_tokens=128, output_tokens=64, metric="tpot_ms",
                         value=res.tpot_s * 1e3))
    return pd.DataFrame(rows)


def test_fit_recovers_a_family_value_and_keeps_the_rest(tmp_path):
    df = _mixed(HOPPER)
    cal, rep = C.fit(df, params=("launch_overhead_s@hopper",), max_evals=300)
    assert cal.families["hopper"]["launch_overhead_s"] == pytest.approx(5e-6, rel=0.02)
    assert cal.launch_overhead_s == km.DEFAULT_CALIBRATION.launch_overhead_s
    assert list(rep["parameters"]["name"]) == ["launch_overhead_s@hopper"]
    assert rep["mape_after"] < 0.2 < rep["mape_before"]
    # the profile keeps the family and validate applies it to the H100 rows only
    prof = tmp_path / "fam.json"
    C.save_profile(cal, prof, rep)
    back = C.load_profile(prof)
    assert back.families == cal.families
    out = V.validate(df, calibration=prof)
    assert out["error_pct"].abs().max() < 0.5
    # a family the file has no rows of cannot be fitted
    with pytest.raises(ValueError, match="no simulated inference row on a blackwell GPU"):
        C.fit(df, params=("launch_overhead_s@blackwell",))
    with pytest.raises(ValueError, match="'hoper' is not a GPU family"):
        C.fit(df, params=("launch_overhead_s@hoper",))


def test_fit_keeps_family_overrides_it_starts_from():
    truth = {"hbm_efficiency": 0.7, **HOPPER}
    cal, rep = C.fit(_mixed(truth), params=("hbm_efficiency",), start=HOPPER, max_evals=300)
    assert cal.hbm_efficiency == pytest.approx(0.7, rel=0.02)
    assert cal.families == HOPPER["families"]
    assert rep["mape_after"] < 0.2


def test_cli_fits_named_params(tmp_path, capsys):
    csv = tmp_path / "m.csv"
    _mixed(HOPPER).to_csv(csv, index=False)
    assert V.cli_main([str(csv), "--fit", "--params", "launch_overhead_s@hopper"]) == 0
    out = capsys.readouterr().out
    assert "launch_overhead_s@hopper" in out and "5.00 µs" in out
    assert V.cli_main([str(csv), "--params", "hbm_efficiency"]) == 2
    assert "--params needs --fit" in capsys.readouterr().err


def test_sweep_honours_family_overrides():
    df = km.sweep({"model": "llama-2-7b", "gpu": ["a100-sxm-80gb", "h100-sxm"], "interconnect": "none",
                   "efficiency": [HOPPER]})
    for _, r in df.iterrows():
        ref = km.simulate(model="llama-2-7b", gpu=r["gpu"], interconnect="none", efficiency=HOPPER)
        assert r["tpot_s"] == pytest.approx(ref.tpot_s, rel=1e-9)


def _stacks(vllm_launch):
    """Synthetic A100 rows served by vLLM and by the generic compiled runtime."""
    eff = {"runtimes": {"vllm": {"launch_overhead_s": vllm_launch}}}
    rows = []
    for i, (fw, tp, b) in enumerate([("vLLM 0.4", 1, 1), ("vLLM 0.4", 4, 8), ("vLLM", 2, 1),
                                     ("lmdeploy", 1, 1), ("lmdeploy", 4, 8)]):
        rt = km.runtime_for_framework(fw)[0]
        res = km.simulate(model="llama-2-13b", gpu="a100-sxm-80gb", runtime=rt,
                          interconnect="none" if tp == 1 else "nvlink", tp=tp, batch=b,
                          prompt_tokens=128, output_tokens=64, efficiency=eff)
        rows.append(dict(id=f"s{i}", source=f"src-{rt}", framework=fw, gpu="a100-sxm-80gb",
                         num_gpus=tp, interconnect="none" if tp == 1 else "nvlink",
                         model="llama-2-13b", weight_bits=16, tp=tp, pp=1, ep=1, batch=b,
                         prompt_tokens=128, output_tokens=64, metric="tpot_ms",
                         value=res.tpot_s * 1e3))
    return pd.DataFrame(rows)


def test_fit_recovers_a_runtime_value_and_prints_its_supporting_rows():
    df = _stacks(3e-6)
    cal, rep = C.fit(df, params=("launch_overhead_s@vllm",), max_evals=300)
    assert cal.runtimes["vllm"]["launch_overhead_s"] == pytest.approx(3e-6, rel=0.02)
    assert cal.launch_overhead_s == km.DEFAULT_CALIBRATION.launch_overhead_s
    p = rep["parameters"].iloc[0]
    assert (p["rows"], p["sources"]) == (3, "src-vllm")         # the three vLLM rows only
    text = C.format_fit(rep)
    assert "launch_overhead_s@vllm" in text and "supported by 3 rows: src-vllm" in text
    assert rep["mape_after"] < 0.2
    with pytest.raises(ValueError, match="no simulated inference row on the sglang runtime"):
        C.fit(df, params=("launch_overhead_s@sglang",), max_evals=20)
    with pytest.raises(ValueError, match="not a GPU family or runtime profile; closest: vllm"):
        C.fit(df, params=("launch_overhead_s@vlm",), max_evals=20)


def test_fit_takes_several_files_at_once(tmp_path):
    df = _stacks(3e-6)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    df.iloc[:3].to_csv(a, index=False)
    df.iloc[3:].to_csv(b, index=False)
    cal, rep = C.fit([str(a), str(b)], params=("launch_overhead_s@vllm",), max_evals=200)
    assert rep["rows"] == 5
    assert cal.runtimes["vllm"]["launch_overhead_s"] == pytest.approx(3e-6, rel=0.02)
