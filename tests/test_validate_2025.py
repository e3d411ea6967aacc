"""measurements_2025.csv: saturation rows excluded, throughput metric, formats from notes,
the issue 11 targets, bad files."""
import numpy as np
import pandas as pd
import pytest

import kernel_model as km
from kernel_model import validate as V
from kernel_model import refit

F2025 = V.find_measurements("measurements_2025.csv")
HEADER = ("id,source,trust,framework,gpu,num_gpus,interconnect,model,weight_bits,tp,pp,ep,"
          "batch,prompt_tokens,output_tokens,metric,value,notes")


def write(tmp_path, rows, header=HEADER, name="m.csv"):
    p = tmp_path / name
    p.write_text(header + "\n" + "\n".join(rows) + "\n")
    return p


def test_the_2025_file_is_shipped_and_every_row_is_accounted_for():
    assert F2025 is not None and F2025.endswith("kernel_model/data/measurements_2025.csv")
    raw = pd.read_csv(F2025)
    sat = raw["metric"] == "max_output_tokens_per_s"
    assert sat.sum() == 36 and (raw.loc[sat, "batch"] == 0).all()
    # without the serving model the saturation rows are kept, with the reason
    df = V.validate(F2025, saturation=False)
    assert list(df["id"]) == list(raw["id"]) and len(df) == 47
    assert (df.loc[sat.values, "status"] == V.SATURATION_STATUS).all()
    assert (df.loc[~sat.values, "status"] == "ok").sum() == 11
    ex = V.summarize(df)["excluded"]
    assert len(ex) == 36 and set(ex["status"]) == {V.SATURATION_STATUS}
    # by default the serving model predicts them (issue 14): every row simulated
    full = V.validate(F2025)
    assert (full["status"] == "ok").all()
    assert full.loc[sat.values, "note"].str.contains("saturation: serving model").all()
    assert (full.loc[~sat.values, "predicted"].to_numpy() == df.loc[~sat.values, "predicted"].to_numpy()).all()


def test_saturation_rows_are_predicted_by_the_serving_model_and_reported_apart():
    from kernel_model.serving import validate_saturation
    full = V.validate(F2025)
    sat = full[full["metric"] == "max_output_tokens_per_s"].set_index("id")
    ref = validate_saturation(pd.read_csv(F2025)).set_index("id")
    assert np.allclose(sat["predicted"], ref.loc[sat.index, "predicted"], rtol=1e-12)
    s = V.summarize(full)
    assert s["saturation"]["rows"] == 36
    assert s["saturation"]["mape"] == pytest.approx(100 * ref.attrs["mape"], rel=1e-9)
    assert s["overall"] == V.summarize(V.validate(F2025, saturation=False))["overall"]
    text = V.report(full)
    assert "Saturation throughput (serving model, 36 rows)" in text


def test_formats_kv_and_runtimes_read_from_the_2025_rows():
    df = V.validate(F2025).set_index("id")
    l40s = df.loc["new-052"]
    assert (l40s["weight_format"], l40s["kv_bits"], l40s["runtime"]) == ("fp8", 8, "trtllm")
    assert df.at["new-056", "kv_bits"] == 16             # its notes name no FP8 KV cache
    mi = df.loc["new-066"]
    assert (mi["weight_format"], mi["kv_bits"], mi["runtime"]) == ("fp8", 8, "vllm")


def test_output_tokens_per_s_is_batch_times_output_over_e2e_by_hand(tmp_path):
    """Static batch: every sequence of the batch finishes at e2e; x2 replicas on 2 GPUs."""
    row = ("t,s,B,TensorRT-LLM v0.5,l40s,{n},none,llama-2-7b,8,1,1,1,64,128,128,"
           "output_tokens_per_s,3240,FP8 (weights+fp8 kv)")
    df = V.validate(write(tmp_path, [row.format(n=1), row.format(n=2).replace("t,", "u,", 1)]))
    res = km.simulate(model="llama-2-7b", gpu="l40s", interconnect="none", batch=64,
                      prompt_tokens=128, output_tokens=128, weight_format="fp8", kv_bits=8,
                      runtime="trtllm")
    assert df.at[0, "predicted"] == pytest.approx(64 * 128 / res.e2e_s, rel=1e-9)
    assert df.at[1, "predicted"] == pytest.approx(2 * 64 * 128 / res.e2e_s, rel=1e-9)
    assert df.at[0, "unit"] == "tokens/s"


def test_the_2025_fixed_batch_rows_meet_the_issue_11_targets():
    s = V.summarize(V.validate(F2025, saturation=False))
    assert s["ok"] == 11
    assert s["overall"] <= 15.0
    assert (s["by_source"]["mape"] <= 25.0).all()


def test_refit_check_passes_with_the_shipped_calibration():
    failed = [t for t in refit.check() if not t[3]]
    assert not failed, failed
    names = [t[0] for t in refit.check()]
    assert "measurements.csv overall MAPE" in names and "measurements_2025.csv overall MAPE" in names


def test_batch_zero_is_only_for_saturation_rows(tmp_path):
    row = "z,s,B,fw,b200,1,none,llama-3.3-70b,4,1,1,1,0,128,128,tpot_ms,10,"
    with pytest.raises(ValueError, match=r"line 2 \(id z\): column 'batch' must be a whole number >= 1"):
        V.validate(write(tmp_path, [row]))


def test_unknown_weight_format_column_is_a_clear_file_error(tmp_path):
    row = "f,s,B,fw,b200,1,none,llama-3.3-70b,4,1,1,1,1,128,128,tpot_ms,10,,nvfp5"
    p = write(tmp_path, [row], header=HEADER + ",weight_format")
    with pytest.raises(ValueError) as e:
        V.validate(p)
    msg = str(e.value)
    assert "line 2 (id f)" in msg and "'weight_format'" in msg and "closest: nvfp4" in msg
    assert V.cli_main([str(p)]) == 2


def test_weight_format_column_and_contradicting_notes(tmp_path):
    ok = "a,s,B,fw,b200,1,none,llama-3.3-70b,4,1,1,1,1,128,128,tpot_ms,10,,mxfp4"
    bad = "b,s,B,fw,b200,1,none,llama-3.3-70b,8,1,1,1,1,128,128,tpot_ms,10,weight format: NVFP4,"
    df = V.validate(write(tmp_path, [ok, bad], header=HEADER + ",weight_format"))
    assert df.at[0, "status"] == "ok" and df.at[0, "weight_format"] == "mxfp4"
    assert df.at[1, "status"].startswith("cannot simulate") and "disagrees" in df.at[1, "status"]


def test_precision_rules_are_documented():
    text = V.precision_rules()
    for word in ("weight_format", "NVFP4", "int8 weight-only", "FP8 KV"):
        assert word in text


def test_refit_literal_reproduces_the_shipped_calibration():
    """What `python -m kernel_model.refit` prints for pasting is the DEFAULT it describes."""
    from kernel_model.calibration import Calibration
    ns = {"Calibration": Calibration}
    exec(refit.literal(km.DEFAULT_CALIBRATION), ns)
    back = ns["DEFAULT"]
    assert back.to_dict() == {**km.DEFAULT_CALIBRATION.to_dict(), "source": back.source}
    # vLLM's gap is fitted with the recipe; llama.cpp's alone on llamacpp.csv, SGLang's on
    # sglang.csv, MLC LLM's and ExLlamaV2's on localengines.csv, carried over
    assert set(back.runtimes) == {"vllm", "llamacpp", "llamacpp-eager", "llamacpp-2024",
                                  "llamacpp-2024-eager", "sglang", "mlc", "exllamav2"} \
        and back.families == {}
    names = {p.partition("@")[0] for p in refit.PARAMS}
    assert len(refit.PARAMS) == 7 and names <= set(km.calibrate.numeric_fields())


def test_refit_fits_the_solo_gaps_on_their_own_files_and_reproduces_the_shipped_ones():
    """`python -m kernel_model.refit` also fits the llama.cpp and SGLang gaps, each alone on
    its file with the rest held, and prints each with its rows: from DEFAULT it lands on the
    shipped values, and llamacpp-eager stays llamacpp's gap plus the 2024 graph saving."""
    cal, reports = refit.solo(km.DEFAULT_CALIBRATION)
    for name, param in refit.SOLO:
        rt = param.partition("@")[2]
        assert cal.runtimes[rt]["launch_overhead_s"] == pytest.approx(
            km.DEFAULT_CALIBRATION.runtimes[rt]["launch_overhead_s"], rel=1e-3), rt
    g = {r: o["launch_overhead_s"] for r, o in cal.runtimes.items()}
    assert g["llamacpp-eager"] - g["llamacpp"] == pytest.approx(
        g["llamacpp-2024-eager"] - g["llamacpp-2024"], rel=1e-9)
    assert [n for n, _ in reports] == [n for n, _ in refit.SOLO]
    assert all(int(r["parameters"]["rows"].iloc[0]) >= 2 for _, r in reports)


def test_saturation_rows_read_link_and_gpu_spellings_as_fixed_batch_rows_do(tmp_path):
    """A saturation row naming a generic "pcie" link, "NVLink 4" or a GPU's usual spelling is
    predicted on the preset the row reading resolves, as a fixed-batch row would be (before,
    the serving model looked "pcie" up as a preset name and excluded the row)."""
    from kernel_model.serving.saturation import max_throughput
    rows = ["a,s,A,TensorRT-LLM 0.15.0,l40s,4,pcie,llama-3-70b,8,4,1,1,0,128,128,"
            "max_output_tokens_per_s,1474,FP8",
            "b,s,A,TensorRT-LLM 0.15.0,NVIDIA H100 80GB HBM3,8,NVLink 4,llama-3-70b,8,8,1,1,0,"
            "128,128,max_output_tokens_per_s,5000,FP8"]
    df = V.validate(write(tmp_path, rows)).set_index("id")
    assert (df["status"] == "ok").all()
    # four L40S (server cards) span the two sockets of their server: validate_links
    assert (df.at["a", "interconnect"], df.at["b", "interconnect"]) == ("pcie4_dual_socket",
                                                                        "nvlink4")
    for i, gpu, ic, tp in (("a", "l40s", "pcie4_dual_socket", 4), ("b", "h100-sxm", "nvlink4", 8)):
        sc = km.Scenario(model="llama-3-70b", gpu=gpu, interconnect=ic, tp=tp,
                         weight_format="fp8", kv_bits=8, runtime="trtllm")
        assert df.at[i, "predicted"] == pytest.approx(
            max_throughput(sc, 128, 128, admission="reserve"), rel=1e-9)


def test_a_saturation_metric_in_another_case_is_still_a_saturation_row(tmp_path):
    """``Max_Output_Tokens_Per_S`` with batch 0 is the saturation metric, as ``TPOT_ms`` is
    tpot_ms; an unknown link stays that row's own reason, not the file's."""
    rows = ["b,s,A,TensorRT-LLM 0.15.0,l40s,4,pcie,llama-3-70b,8,4,1,1,0,128,128,"
            "Max_Output_Tokens_Per_S,1474,FP8",
            "a,s,A,TensorRT-LLM 0.15.0,l40s,4,pcie7,llama-3-70b,8,4,1,1,0,128,128,"
            "max_output_tokens_per_s,1474,FP8"]
    df = V.validate(write(tmp_path, rows)).set_index("id")
    assert df.at["b", "status"] == "ok" and df.at["b", "metric"] == "max_output_tokens_per_s"
    assert "pcie7" in df.at["a", "status"] and "not a known interconnect" in df.at["a", "status"]


def test_a_saturation_row_reports_the_precision_the_serving_model_ran(tmp_path):
    """The table's weight_format / kv_bits of a saturation row are what its prediction used
    (an 8-bit checkpoint keeps an FP8 KV cache: ``serving.saturation._precision``), not the
    fixed-batch reading of the same notes (no format named, 16-bit KV): before, the two
    disagreed on every FP8 row whose notes did not spell out its KV cache."""
    from kernel_model.serving.saturation import max_throughput
    one = ("{},s,A,TensorRT-LLM 0.15.0,h100-sxm,1,none,llama-3.1-8b,{},1,1,1,0,128,128,"
           "max_output_tokens_per_s,20000,{}")
    got = V.validate(write(tmp_path, [one.format("a", 8, "precision FP8; KV-cache dtype not "
                                                 "stated"), one.format("b", 16, "16-bit")]))
    df = got.set_index("id")
    assert list(df["status"]) == ["ok", "ok"]
    assert (df.at["a", "weight_format"], df.at["a", "kv_bits"]) == ("fp8", 8)
    assert df.at["b", "kv_bits"] == 16 and df.at["b", "weight_format"] != "fp8"
    sc = km.Scenario(model="llama-3.1-8b", gpu="h100-sxm", interconnect="none",
                     weight_format="fp8", kv_bits=8, runtime="trtllm")
    assert df.at["a", "predicted"] == pytest.approx(
        max_throughput(sc, 128, 128, admission="reserve"), rel=1e-9)
    # with the fixed-batch reading (16-bit KV) the prediction would differ: the column
    # names what ran
    sc16 = km.Scenario(model="llama-3.1-8b", gpu="h100-sxm", interconnect="none",
                       weight_format="fp8", kv_bits=16, runtime="trtllm")
    assert max_throughput(sc16, 128, 128, admission="reserve") != df.at["a", "predicted"]
