"""kernel_model.validate: row -> scenario mapping, errors, summaries, CLI."""
import sys
import types

import numpy as np
import pandas as pd
import pytest

import kernel_model as km
from kernel_model import validate as V

HEADER = ("id,source,trust,framework,gpu,num_gpus,interconnect,model,weight_bits,tp,pp,ep,"
          "batch,prompt_tokens,output_tokens,metric,value,notes")
ROWS = [
    "r1,src-a,A,fw1,a100-sxm-80gb,1,none,llama-2-7b,16,1,1,1,1,128,256,tpot_ms,10.0,",
    "r2,src-a,A,fw1,a100-sxm-80gb,1,none,llama-2-7b,16,1,1,1,1,128,256,ttft_ms,20.0,",
    "r3,src-a,A,fw1,a100-sxm-80gb,1,none,llama-2-7b,16,1,1,1,4,200,200,e2e_latency_s,2.5,",
    "r4,src-a,A,fw1,a100-sxm-80gb,4,nvlink,llama-2-7b,16,4,1,1,4,200,200,e2e_latency_s,1.3,",
    "r5,src-b,B,fw2,a100-sxm-80gb,8,nvlink,llama-2-13b,16,8,1,1,1,100,50,tpot_ms,9.0,",
    "r6,src-b,B,fw2,a100-sxm-80gb,1,none,llama-2-13b,16,1,1,1,1,100,50,tpot_ms,19.0,",
    "r7,src-b,B,fw2,a100-sxm-80gb,2,nvlink,llama-2-13b,16,2,1,1,1,100,50,tpot_ms,13.0,",
]


def write(tmp_path, rows, header=HEADER, name="m.csv"):
    p = tmp_path / name
    p.write_text(header + "\n" + "\n".join(rows) + ("\n" if rows else ""))
    return p


def expected(model, gpu, ic, tp, pp, ep, batch, p, o, bits, metric, **kw):
    res = km.simulate(km.Scenario(model=model, gpu=gpu, interconnect=ic, tp=tp, pp=pp, ep=ep,
                                  batch=batch, prompt_tokens=p, output_tokens=o,
                                  weight_bits=bits, **kw))
    return {"tpot_ms": res.tpot_s * 1e3, "ttft_ms": res.ttft_s * 1e3,
            "e2e_latency_s": res.e2e_s}[metric]


def test_predictions_equal_simulate_for_each_metric(tmp_path):
    df = V.validate(write(tmp_path, ROWS))
    assert list(df["id"]) == [r.split(",")[0] for r in ROWS]
    assert (df["status"] == "ok").all()
    for row, (_, out) in zip(ROWS, df.iterrows()):
        f = row.split(",")
        want = expected(f[7], f[4], f[6], int(f[9]), int(f[10]), int(f[11]), int(f[12]),
                        int(f[13]), int(f[14]), int(f[8]), f[15])
        assert out["predicted"] == pytest.approx(want, rel=1e-9)
        meas = float(f[16])
        assert out["measured"] == meas
        assert out["error_pct"] == pytest.approx((want - meas) / meas * 100, rel=1e-9)
        assert out["source"] == f[1] and out["framework"] == f[3] and out["metric"] == f[15]
    assert list(df["unit"]) == ["ms", "ms", "s", "s", "ms", "ms", "ms"]


def test_dataframe_input_matches_file(tmp_path):
    p = write(tmp_path, ROWS)
    a = V.validate(p)
    b = V.validate(pd.read_csv(p))
    assert np.allclose(a["predicted"], b["predicted"], rtol=1e-12)


def test_data_parallel_replicas_keep_per_request_latency(tmp_path):
    rows = [ROWS[4], ROWS[4].replace("r5,", "r5x,").replace(",8,nvlink,", ",16,nvlink,")]
    df = V.validate(write(tmp_path, rows))
    assert (df["status"] == "ok").all()
    assert df.at[1, "predicted"] == pytest.approx(df.at[0, "predicted"], rel=1e-12)
    assert "2 data-parallel replicas" in df.at[1, "note"]
    assert df.at[0, "note"] == ""


def test_multi_node_plan_uses_8_gpu_nodes_and_infiniband(tmp_path):
    row = "m1,s,A,fw,a100-sxm-80gb,16,nvlink,llama-2-70b,16,16,1,1,1,128,64,tpot_ms,30.0,"
    df = V.validate(write(tmp_path, [row]))
    assert df.at[0, "status"] == "ok"
    want = expected("llama-2-70b", "a100-sxm-80gb", "nvlink", 16, 1, 1, 1, 128, 64, 16,
                    "tpot_ms", gpus_per_node=8, inter_node="auto")
    one_node = expected("llama-2-70b", "a100-sxm-80gb", "nvlink", 16, 1, 1, 1, 128, 64, 16,
                        "tpot_ms", gpus_per_node=16)
    assert df.at[0, "predicted"] == pytest.approx(want, rel=1e-12)
    assert want > one_node          # the InfiniBand hop between nodes costs time


def test_rows_that_cannot_be_simulated_keep_a_reason_and_leave_the_mape(tmp_path):
    bad = [
        "b1,src-c,A,fw,a100-sxm-80gb,4,nvlink,llama-2-7b,16,8,1,1,1,100,50,tpot_ms,9.0,",
        "b2,src-c,A,fw,a100-sxm-80gb,12,nvlink,llama-2-7b,16,8,1,1,1,100,50,tpot_ms,9.0,",
        "b3,src-c,A,fw,a100-sxm-80g,1,none,llama-2-7b,16,1,1,1,1,100,50,tpot_ms,9.0,",
        "b4,src-c,A,fw,a100-sxm-80gb,1,none,llama-2-7b,16,1,1,1,1,100,50,tpot_us,9.0,",
        "b5,src-c,A,fw,a100-sxm-80gb,3,nvlink,llama-2-7b,16,3,1,1,1,100,50,tpot_ms,9.0,",
        "b6,src-c,A,fw,a100-sxm-80gb,2,none,llama-2-7b,16,2,1,1,1,100,50,tpot_ms,9.0,",
    ]
    df = V.validate(write(tmp_path, ROWS + bad))
    assert len(df) == len(ROWS) + len(bad)
    st = df.set_index("id")["status"]
    assert "impossible plan" in st["b1"] and "needs 8 GPUs" in st["b1"]
    assert "not a multiple" in st["b2"]
    assert "a100-sxm-80gb" in st["b3"]                  # closest valid name
    assert "unknown metric" in st["b4"] and "tpot_ms" in st["b4"]
    assert "does not divide" in st["b5"]
    assert "interconnect='none'" in st["b6"]
    assert df.loc[df["id"].str.startswith("b"), "predicted"].isna().all()
    s = V.summarize(df)
    ok = df[df["status"] == "ok"]
    assert s["ok"] == len(ROWS) and s["rows"] == len(df)
    assert s["overall"] == pytest.approx(ok["error_pct"].abs().mean())
    assert set(s["excluded"]["id"]) == {b.split(",")[0] for b in bad}
    assert "src-c" not in s["by_source"].index


def test_summary_statistics_by_hand(tmp_path):
    df = V.validate(write(tmp_path, ROWS))
    s = V.summarize(df)
    for src, g in df.groupby("source"):
        assert s["by_source"].at[src, "mape"] == pytest.approx(g["error_pct"].abs().mean())
        assert s["by_source"].at[src, "bias"] == pytest.approx(g["error_pct"].mean())
        assert s["by_source"].at[src, "rows"] == len(g)
    for m, g in df.groupby("metric"):
        assert s["by_metric"].at[m, "mape"] == pytest.approx(g["error_pct"].abs().mean())
    assert s["overall"] == pytest.approx(df["error_pct"].abs().mean())


def test_tp_scaling_speedups_by_hand(tmp_path):
    # r6 / r7 / r5: llama-2-13b at TP 1, 2, 8 (same source, batch, tokens); a duplicate at TP 1
    dup = ROWS[5].replace("r6,", "r6b,").replace(",19.0,", ",21.0,")
    df = V.validate(write(tmp_path, ROWS + [dup]))
    t = V.tp_scaling(df)
    row = t[(t["source"] == "src-b")].iloc[0]
    assert (row["tp_min"], row["tp_max"]) == (1, 8)
    meas1 = (19.0 + 21.0) / 2
    assert row["measured_speedup"] == pytest.approx(meas1 / 9.0)
    p = df.set_index("id")["predicted"]
    assert row["predicted_speedup"] == pytest.approx(p["r6"] / p["r5"])
    assert row["diff_pct"] == pytest.approx((row["predicted_speedup"] - meas1 / 9.0) / (meas1 / 9.0) * 100)
    # src-a: TP 1 -> 4 at batch 4 for e2e only (r3, r4); tpot/ttft rows have one TP each
    a = t[t["source"] == "src-a"]
    assert len(a) == 1 and a.iloc[0]["metric"] == "e2e_latency_s" and a.iloc[0]["tp_max"] == 4
    tg = V.targets(V.summarize(df))
    assert any(n.startswith("TP 1->8") for n in tg["target"])
    assert (tg["passed"] == (tg["value"] <= tg["limit"])).all()


def test_calibration_override_reaches_every_row(tmp_path):
    p = write(tmp_path, ROWS[:3])
    base = V.validate(p)
    slow = V.validate(p, calibration={"hbm_efficiency": 0.5})
    assert (slow["predicted"] > base["predicted"]).all()
    want = km.simulate(km.Scenario(model="llama-2-7b", gpu="a100-sxm-80gb", interconnect="none",
                                   batch=1, prompt_tokens=128, output_tokens=256,
                                   efficiency={"hbm_efficiency": 0.5})).tpot_s * 1e3
    assert slow.at[0, "predicted"] == pytest.approx(want, rel=1e-12)
    with pytest.raises(ValueError, match="hbm_efficiency"):
        V.validate(p, calibration={"hbm_efficiency": 1.5})


@pytest.mark.parametrize("header,rows,match", [
    (HEADER.replace(",tp,", ",tpx,"), ROWS[:1], r"missing column\(s\) tp"),
    (HEADER, [ROWS[0].replace(",1,1,1,1,128", ",two,1,1,1,128")], r"line 2 \(id r1\): column 'tp' .* 'two'"),
    (HEADER, [ROWS[0], ROWS[1].replace(",20.0,", ",abc,")], r"line 3 \(id r2\): column 'value'"),
    (HEADER, [ROWS[0].replace(",10.0,", ",0,")], r"column 'value' must be a number > 0"),
    (HEADER, [ROWS[0].replace(",128,256,", ",12.5,256,")], r"column 'prompt_tokens'"),
    (HEADER, [ROWS[0].replace(",128,256,", ",-1,256,")],
     r"column 'prompt_tokens' must be a whole number >= 0 .* '-1'"),
    (HEADER, [ROWS[0].replace(",128,256,", ",128,0,")],
     r"column 'output_tokens' must be a whole number >= 1 .* '0'"),
    (HEADER, [ROWS[0].replace(",none,", ",,")], r"column 'interconnect' is empty"),
    (HEADER, [], r"no measurement rows"),
])
def test_malformed_files_raise_naming_file_line_and_column(tmp_path, header, rows, match):
    p = write(tmp_path, rows, header=header)
    with pytest.raises(ValueError, match=match) as e:
        V.validate(p)
    assert str(p) in str(e.value)


def test_empty_and_missing_files(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("")
    with pytest.raises(ValueError, match="empty"):
        V.validate(p)
    with pytest.raises(ValueError, match="no such"):
        V.validate(tmp_path / "nope.csv")


TRAIN_HEADER = ("id,source,gpu,model,layers,hidden,heads,seq_len,global_batch,micro_batch,dp,"
                "tp,pp,recompute,sequence_parallel,metric,value")
TRAIN_ROWS = ["t1,paper,a100-sxm-80gb,gpt-22b,48,6144,64,2048,4,1,1,8,1,full,false,iteration_s,1.4",
              "t2,paper,a100-sxm-80gb,gpt-22b,48,6144,64,2048,4,1,1,8,1,selective,true,iteration_s,1.1"]


def test_training_rows_without_a_training_model_are_kept_with_a_status(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "kernel_model.training", None)   # import fails
    monkeypatch.delattr(km, "training", raising=False)
    df = V.validate(write(tmp_path, TRAIN_ROWS, header=TRAIN_HEADER))
    assert list(df["id"]) == ["t1", "t2"]
    assert (df["status"] == V.TRAINING_UNAVAILABLE).all()
    assert df["predicted"].isna().all()
    assert list(df["num_gpus"]) == [8, 8]
    s = V.summarize(df)
    assert s["ok"] == 0 and len(s["excluded"]) == 2


def test_training_rows_go_to_simulate_training(tmp_path, monkeypatch):
    calls = []

    def simulate_training(model, gpu, seq_len, global_batch, micro_batch, dp, tp, pp,
                          recompute, sequence_parallel, efficiency=None):
        calls.append(dict(model=model, tp=tp, pp=pp, seq_len=seq_len, recompute=recompute,
                          sequence_parallel=sequence_parallel, efficiency=efficiency))
        return {"iteration_s": 1.0 if sequence_parallel else 2.0}

    mod = types.ModuleType("kernel_model.training")
    mod.simulate_training = simulate_training
    monkeypatch.setitem(sys.modules, "kernel_model.training", mod)
    monkeypatch.setattr(km, "training", mod, raising=False)
    df = V.validate(write(tmp_path, TRAIN_ROWS, header=TRAIN_HEADER),
                    calibration={"flops_efficiency": 0.6})
    assert (df["status"] == "ok").all()
    assert list(df["predicted"]) == [2.0, 1.0]
    assert df.at[0, "error_pct"] == pytest.approx((2.0 - 1.4) / 1.4 * 100)
    assert calls[0]["sequence_parallel"] is False and calls[1]["sequence_parallel"] is True
    assert calls[0]["tp"] == 8 and calls[0]["seq_len"] == 2048 and calls[1]["recompute"] == "selective"
    assert calls[0]["efficiency"] == {"flops_efficiency": 0.6}


def test_training_model_errors_become_row_status(tmp_path, monkeypatch):
    mod = types.ModuleType("kernel_model.training")

    def simulate_training(**kw):
        if kw["recompute"] == "full":
            raise ValueError("tp=8 is not allowed here")
        raise RuntimeError("boom")
    mod.simulate_training = simulate_training
    monkeypatch.setitem(sys.modules, "kernel_model.training", mod)
    monkeypatch.setattr(km, "training", mod, raising=False)
    df = V.validate(write(tmp_path, TRAIN_ROWS, header=TRAIN_HEADER))
    assert df.at[0, "status"] == "cannot simulate: tp=8 is not allowed here"
    assert df.at[1, "status"].startswith("training model failed: RuntimeError")


def test_cli_prints_table_summary_and_exclusions(tmp_path, capsys):
    bad = "b1,src-c,A,fw,a100-sxm-80gb,4,nvlink,llama-2-7b,16,8,1,1,1,100,50,tpot_ms,9.0,"
    p = write(tmp_path, ROWS + [bad])
    out_csv = tmp_path / "out.csv"
    assert V.cli_main([str(p), "--csv", str(out_csv)]) == 0
    out = capsys.readouterr().out
    df = V.validate(p)
    s = V.summarize(df)
    for rid in df["id"]:
        assert rid in out
    assert f"MAPE overall: {s['overall']:.1f} %" in out
    assert "MAPE per source" in out and "MAPE per metric" in out and "TP scaling" in out
    assert "b1 (src-c, tpot_ms): cannot simulate: impossible plan" in out
    back = pd.read_csv(out_csv)
    assert list(back["id"]) == list(df["id"])
    assert np.allclose(back["predicted"].dropna(), df["predicted"].dropna())


@pytest.mark.parametrize("args", [["{bad}"], ["{missing}"], ["{good}", "--bogus"], ["--csv"],
                                  ["{good}", "--calibration", "{missing}"]])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args):
    good = write(tmp_path, ROWS)
    bad = write(tmp_path, [ROWS[0].replace(",10.0,", ",x,")], name="bad.csv")
    names = {"good": str(good), "bad": str(bad), "missing": str(tmp_path / "missing.csv")}
    argv = [a.format(**names) for a in args]
    assert V.cli_main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nexora validate: error: ")
    assert err.count("nexora validate") == 1          # no doubled prefix


def test_cli_applies_a_calibration_profile(tmp_path, capsys):
    from kernel_model.calibrate import save_profile, make_calibration
    p = write(tmp_path, ROWS[:1])
    prof = tmp_path / "cal.json"
    save_profile(make_calibration({"hbm_efficiency": 0.5}), prof)
    out_csv = tmp_path / "o.csv"
    assert V.cli_main([str(p), "--calibration", str(prof), "--csv", str(out_csv)]) == 0
    got = pd.read_csv(out_csv)["predicted"][0]
    assert got == pytest.approx(V.validate(p, calibration={"hbm_efficiency": 0.5})["predicted"][0])
    assert got > V.validate(p)["predicted"][0]


SHARED = V.find_measurements()


@pytest.mark.skipif(SHARED is None, reason="published measurements file not found")
def test_published_measurements_all_rows_accounted_for():
    raw = pd.read_csv(SHARED)
    df = V.validate(SHARED)
    assert list(df["id"]) == list(raw["id"])
    assert (df["status"].str.len() > 0).all()
    ok = df["status"] == "ok"
    assert ok.sum() >= 0.9 * len(df)
    assert np.isfinite(df.loc[ok, "predicted"]).all() and (df.loc[ok, "predicted"] > 0).all()
    # spot-check the vectorised path against simulate() on every 10th row
    rows = {r["id"]: r for r in V.read_measurements(SHARED)}
    for _, r in df[ok].iloc[::10].iterrows():
        sc, _ = V.scenario_for(rows[r["id"]])
        res = km.simulate(sc)
        key, scale, _ = V.METRICS[r["metric"]]
        assert r["predicted"] == pytest.approx(getattr(res, key) * scale, rel=1e-9)


def test_package_level_validate_is_the_function_and_the_module(tmp_path):
    """``kernel_model.validate(path) -> DataFrame`` as the issue names it; the module's helpers
    stay reachable through the same name."""
    p = write(tmp_path, ROWS)
    df = km.validate(p)
    assert isinstance(df, pd.DataFrame)
    pd.testing.assert_frame_equal(df, V.validate(p))
    assert km.validate.summarize(df)["ok"] == len(ROWS)
    with pytest.raises(ValueError, match="no such measurements file"):
        km.validate(tmp_path / "missing.csv")


def test_a_decode_from_an_empty_context_reads_as_one_prompt_token(tmp_path):
    """llama-bench's tg128 decodes from an empty context: prompt_tokens 0 is a value, not an
    error. The row is predicted as with one prompt token, and its note says so."""
    zero = ROWS[0].replace(",128,256,", ",0,256,")
    one = ROWS[0].replace(",128,256,", ",1,256,")
    a = V.validate(write(tmp_path, [zero], name="zero.csv"))
    b = V.validate(write(tmp_path, [one], name="one.csv"))
    assert a.at[0, "status"] == "ok" and a.at[0, "predicted"] == b.at[0, "predicted"]
    assert "prompt_tokens 0 read as 1" in a.at[0, "note"]
    assert "prompt_tokens 0" not in str(b.at[0, "note"])


def test_a_multi_node_row_may_name_its_network(tmp_path):
    """16 H100s: "nvlink4+ib_ndr", "nvlink4 + InfiniBand", "NVLink+IB NDR" and a bare "ib_ndr"
    all mean NVLink 4 inside each 8-GPU node and NDR InfiniBand between them, exactly as
    naming the node link alone does (the engine's default network for Hopper is NDR); HDR
    named for the network of an A100 pair of nodes is used as named. A bare network name on
    GPUs that fit one node is left as it is, and an unknown network is that row's error."""
    row = ("{id},src,B,vLLM 0.6,{gpu},{n},{ic},llama-3.1-405b,8,8,{pp},1,1,128,128,"
           "tpot_ms,30.0,")
    names = ["nvlink4", "nvlink4+ib_ndr", "nvlink4 + InfiniBand", "NVLink+IB NDR", "ib_ndr",
             "InfiniBand", "IB"]
    rows = [row.format(id=f"h{i}", gpu="h100-sxm", n=16, ic=ic, pp=2) for i, ic in enumerate(names)]
    rows += [row.format(id="a0", gpu="a100-sxm-80gb", n=16, ic="nvlink+ib_hdr", pp=2),
             row.format(id="a1", gpu="a100-sxm-80gb", n=16, ic="nvlink+ib_ndr", pp=2),
             row.format(id="x0", gpu="h100-sxm", n=16, ic="nvlink4+warp_drive", pp=2)]
    df = V.validate(write(tmp_path, rows)).set_index("id")
    h = df.loc[[f"h{i}" for i in range(len(names))]]
    assert (h.status == "ok").all() and h.predicted.nunique() == 1
    assert set(h.interconnect[1:]) == {"nvlink4+ib_ndr"}
    want = km.simulate(km.Scenario(model="llama-3.1-405b", gpu="h100-sxm", interconnect="nvlink4",
                                   inter_node="ib_ndr", tp=8, pp=2, batch=1, prompt_tokens=128,
                                   output_tokens=128, weight_bits=8, runtime="vllm")).tpot_s * 1e3
    assert h.predicted.iloc[0] == pytest.approx(want, rel=1e-12)
    assert "nvlink4 (the GPU's own) inside them" in h.note["h4"]
    assert "InfiniBand on 16 GPUs" in h.note["h5"] and "IB on 16 GPUs" in h.note["h6"]
    hdr = km.simulate(km.Scenario(model="llama-3.1-405b", gpu="a100-sxm-80gb",
                                  interconnect="nvlink", inter_node="ib_hdr", tp=8, pp=2, batch=1, prompt_tokens=128,
                                  output_tokens=128, weight_bits=8, runtime="vllm")).tpot_s * 1e3
    assert df.at["a0", "predicted"] == pytest.approx(hdr, rel=1e-12)
    assert df.at["a1", "predicted"] < df.at["a0", "predicted"]      # NDR is faster than HDR
    assert "warp_drive" in df.at["x0", "status"] and "ib_ndr" in df.at["x0", "status"]
    two = V.validate(write(tmp_path, [row.format(id="t", gpu="h100-sxm", n=8, ic="ib_ndr", pp=1)],
                           name="two.csv"))
    assert two.at[0, "interconnect"] == "ib_ndr"                      # fits one node: as named


def test_common_spellings_of_a_link_are_read_not_refused(tmp_path):
    """"NVLink 4", "nvlink-5", "NVLink3.0", "InfiniBand NDR", "RoCE v2" and "Ethernet" name
    presets (each row's note says how it was read): a file that spells them so is simulated,
    and a row predicts what the preset's own name predicts."""
    row = ("{id},src,B,vLLM 0.6,{gpu},{n},{ic},llama-3.1-405b,8,8,{pp},1,1,128,128,"
           "tpot_ms,30.0,")
    cases = [("NVLink 4", "nvlink4", "h100-sxm", 8), ("nvlink-5", "nvlink5", "b200", 8),
             ("NVLink3.0", "nvlink", "a100-sxm-80gb", 8),
             ("InfiniBand NDR", "nvlink4+ib_ndr", "h100-sxm", 16),
             ("NVLink4 + RoCE v2", "nvlink4+roce", "h100-sxm", 16),
             ("Ethernet", "nvlink4+tcp", "h100-sxm", 16)]
    rows = []
    for i, (spelt, preset, gpu, n) in enumerate(cases):
        rows.append(row.format(id=f"s{i}", gpu=gpu, n=n, ic=spelt, pp=n // 8))
        rows.append(row.format(id=f"p{i}", gpu=gpu, n=n, ic=preset, pp=n // 8))
    df = V.validate(write(tmp_path, rows)).set_index("id")
    assert (df.status == "ok").all(), df.status
    for i, (spelt, preset, *_ ) in enumerate(cases):
        assert df.at[f"s{i}", "interconnect"] == preset
        assert df.at[f"s{i}", "predicted"] == df.at[f"p{i}", "predicted"]
        assert spelt in df.at[f"s{i}", "note"]


def test_a_metric_in_another_case_unit_or_name_is_read_with_its_value_converted(tmp_path):
    """"TPOT_ms", "tpot_s" (x 1000), "itl_ms" (inter-token latency, TPOT's other name),
    "e2e_latency_ms" (/ 1000) and "ttft_s" name the format's metrics: each row predicts and
    measures as its canonical twin, and says how it was read; an unknown one stays the row's
    error."""
    r = ROWS[0]
    pairs = [("TPOT_ms", "10.0", "tpot_ms", "10.0"), ("tpot_s", "0.01", "tpot_ms", "10.0"),
             ("itl_ms", "10.0", "tpot_ms", "10.0"), ("ttft_s", "0.02", "ttft_ms", "20.0"),
             ("e2e_latency_ms", "2500", "e2e_latency_s", "2.5")]
    rows = []
    for i, (m, v, canon, cv) in enumerate(pairs):
        rows.append(r.replace("r1,", f"a{i},", 1).replace(",tpot_ms,10.0,", f",{m},{v},"))
        rows.append(r.replace("r1,", f"b{i},", 1).replace(",tpot_ms,10.0,", f",{canon},{cv},"))
    rows.append(r.replace("r1,", "x,", 1).replace(",tpot_ms,", ",tokens_per_s,"))
    df = V.validate(write(tmp_path, rows)).set_index("id")
    for i, (m, _, canon, _) in enumerate(pairs):
        a, b = df.loc[f"a{i}"], df.loc[f"b{i}"]
        assert (a.metric, a.status) == (canon, "ok")
        assert a.measured == pytest.approx(b.measured, rel=1e-12)
        assert a.predicted == b.predicted
        if m.lower() != canon:
            assert f"metric {m!r} read as {canon}" in a.note
    assert df.at["x", "status"].startswith("unknown metric 'tokens_per_s'")


def test_saturation_rows_are_summarised_per_source_and_per_gpu_and_plan():
    """A table of saturation rows gets its MAPE per source and per GPU / TP / PP in the
    report (hand-computed: 10 and 30 % on h100 tp 8, 20 % on h100 tp 1 pp 2)."""
    from kernel_model.validate_report import summarize, report
    df = pd.DataFrame({
        "id": ["a", "b", "c"], "source": ["s1", "s1", "s2"], "kind": "inference",
        "metric": "max_output_tokens_per_s", "unit": "tokens/s", "status": "ok",
        "gpu": "h100-sxm", "tp": [8, 8, 1], "pp": [1, 1, 2], "ep": 1, "model": "llama-3.1-70b",
        "framework": "TensorRT-LLM 0.13.0", "weight_bits": 8,
        "batch": 0, "prompt_tokens": 128, "output_tokens": 128,
        "measured": [100.0, 100.0, 100.0], "predicted": [110.0, 70.0, 120.0],
        "error_pct": [10.0, -30.0, 20.0]})
    s = summarize(df)
    g = s["saturation"]["by_gpu_tp"]
    assert list(g.index) == ["h100-sxm tp 1 pp 2", "h100-sxm tp 8"]
    assert g.loc["h100-sxm tp 8", "mape"] == 20.0 and g.loc["h100-sxm tp 8", "bias"] == -10.0
    assert s["saturation"]["by_source"].loc["s2", "mape"] == 20.0
    text = report(df, s, worst=0)
    assert "Saturation rows per source (%)" in text and "h100-sxm tp 1 pp 2" in text
