"""The precision format reaches users: ``nexora --weight-format``, ``nexora serving`` /
``capacity`` (``--weight-format``, ``--runtime``, ``--plan`` honouring ``--weight-bits``),
the model object's format <-> bits adaptation and the dashboard's format dropdown."""
import json
import re

import pytest

import kernel_model as km
from kernel_model import cli
from kernel_model.formats import describe, WEIGHT_FORMATS
from kernel_model.model_object import ScenarioModel
from kernel_model.serving.cli import main as serving_main
from kernel_model.serving.planner import candidate_plans

B200 = ("--model", "llama-3.1-70b", "--gpu", "b200", "--interconnect", "nvlink5", "--tp", "2")


def run(capsys, main, *args):
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def weights(capsys, *args):
    rc, out, err = run(capsys, cli.main, *B200, *args, "--json")
    assert rc == 0, err
    d = json.loads(out)
    return d["memory"]["weights"], d


# ---- nexora --weight-format ---------------------------------------------------------------
def test_weight_format_flag_sets_bytes_per_weight(capsys):
    """Embeddings stay 16-bit, so take differences: the quantised weights differ by
    (16 - 4.5) bits (bf16 vs nvfp4) and by (4.5 - 4.25) bits (nvfp4 vs mxfp4) per weight:
    a ratio of 46 exactly, whatever the embedding count."""
    w16, _ = weights(capsys, "--weight-format", "bf16")
    w_nv, d = weights(capsys, "--weight-format", "nvfp4")
    w_mx, _ = weights(capsys, "--format", "mxfp4")          # the short spelling
    assert d["scenario"]["weight_format"] == "nvfp4" and d["scenario"]["weight_bits"] == 4
    assert (w16 - w_nv) / (w_nv - w_mx) == pytest.approx(46.0, rel=1e-9)
    assert d["tpot_s"] == km.simulate(km.Scenario.from_dict(d["scenario"])).tpot_s


def test_weight_format_text_line_names_format_bits_and_math(capsys):
    rc, out, _ = run(capsys, cli.main, *B200, "--weight-format", "nvfp4")
    assert rc == 0
    assert "weights nvfp4 (4.5 bits per weight, FP4 math)" in out
    rc, out, _ = run(capsys, cli.main, "--model", "llama-3.1-8b", "--gpu", "a100-sxm-80gb",
                     "--weight-bits", "8")
    assert "weights int8, the closest to 8-bit (8 bits per weight, 16-bit math)" in out


@pytest.mark.parametrize("args,needles", [
    (["--weight-format", "nvpf4"], ["--weight-format", "'nvpf4'", "closest: nvfp4"]),
    (["--weight-format", "nvfp4", "--weight-bits", "8"], ["--weight-bits", "nvfp4", "weight_bits=4"]),
    (["--runtime", "vlm"], ["--runtime", "closest: vllm"]),
])
def test_bad_format_or_runtime_exits_2_with_one_line(capsys, args, needles):
    rc, _, err = run(capsys, cli.main, *B200, *args)
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    for n in needles:
        assert n in err, (n, err)


def test_help_lists_every_format_and_runtime(capsys):
    rc, out, _ = run(capsys, cli.main, "--help")
    flat = re.sub(r"-\s+", "-", " ".join(out.split()))     # argparse wraps after hyphens
    assert rc == 0
    assert all(f in flat for f in WEIGHT_FORMATS)
    assert all(r in flat for r in km.list_runtimes())


def test_describe_off_the_formats_tensor_cores_says_weight_only():
    assert describe("mxfp4", 4, km.get_gpu("mi300x")) == \
        "mxfp4 (4.25 bits per weight, 16-bit math, weight-only)"
    assert describe("auto", 16, km.get_gpu("h100-sxm")) == "fp16 (16 bits per weight, 16-bit math)"
    assert describe("auto", 8, km.get_gpu("h100-sxm")).startswith("fp8, the closest to 8-bit")


# ---- nexora serving / capacity ------------------------------------------------------------
SERVE = ("serving", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--requests", "60",
         "--rate", "2", "--json")


def _tpot(capsys, *args):
    rc, out, err = run(capsys, serving_main, *SERVE, *args)
    assert rc == 0, err
    return json.loads(out)["summary"]["tpot_p50_s"]


def test_serving_takes_format_and_runtime(capsys):
    bf16, fp8 = _tpot(capsys), _tpot(capsys, "--weight-format", "fp8")
    assert fp8 < bf16                      # half the weight bytes per decode step
    assert _tpot(capsys, "--weight-bits", "8") == fp8   # 8 bits on an H100: fp8, the same
    eager = _tpot(capsys, "--runtime", "tgi-eager")
    assert eager > bf16                    # a Python server's host time per step


@pytest.mark.parametrize("args,needles", [
    (["--weight-format", "nvfp5"], ["--weight-format: ", "closest: nvfp4"]),
    (["--runtime", "vlm"], ["--runtime: ", "closest: vllm"]),
    (["--tp", "3"], ["--tp: ", "32 attention heads"]),
])
def test_serving_bad_format_or_runtime_exits_2_naming_the_flag(capsys, args, needles):
    rc, _, err = run(capsys, serving_main, *SERVE, *args)
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert all(n in err for n in needles), err


def test_capacity_plan_honours_weight_bits_and_format(capsys):
    base = ("capacity", "--plan", "--model", "llama-3.1-8b", "--gpu", "h100-sxm",
            "--num-gpus", "2", "--requests", "80", "--json")
    rc, out, err = run(capsys, serving_main, *base, "--weight-bits", "4")
    assert rc == 0, err
    rows = json.loads(out)
    assert {r["weight_bits"] for r in rows} == {4}                 # was ignored: 16 and 8
    assert {r["kv_bits"] for r in rows} == {8}                     # FP8 KV with 4-bit weights
    rc, out, err = run(capsys, serving_main, *base, "--weight-format", "fp8")
    assert rc == 0, err
    assert {r["weight_bits"] for r in json.loads(out)} == {8}
    rc, out, err = run(capsys, serving_main, *base)
    rows = json.loads(out)
    assert {r["weight_bits"] for r in rows} == {16, 8}             # the search, as before
    assert all(r["kv_bits"] == r["weight_bits"] for r in rows)     # KV: 16 or FP8
    rc, out, err = run(capsys, serving_main, *base, "--kv-bits", "16")
    assert rc == 0, err
    assert {r["kv_bits"] for r in json.loads(out)} == {16}         # was ignored


def test_candidate_plans_with_a_format_use_its_bits():
    plans = candidate_plans("llama-3.1-70b", "b200", 2, weight_format="nvfp4")
    assert plans and {p[3] for p in plans} == {4}


# ---- the model object and the dashboard ---------------------------------------------------
def test_model_object_keeps_format_and_bits_in_step():
    m = ScenarioModel(model="llama-3.1-70b", gpu="b200", interconnect="nvlink5", tp=2)
    assert m.set(adapt=True, weight_format="nvfp4") == ["weight_bits 16 -> 4: the bits of nvfp4"]
    assert (m.weight_format, m.weight_bits) == ("nvfp4", 4)
    notes = m.set(adapt=True, weight_bits=8)
    assert notes == ["weight_format nvfp4 -> auto: nvfp4 has 4-bit weights, not 8"]
    assert (m.weight_format, m.weight_bits) == ("auto", 8)
    assert m.set(adapt=True, weight_format="q4_k") and m.weight_format == "q4_k_m"   # alias
    assert m.set(adapt=True, weight_format="fp16") and m.weight_bits == 16


def test_model_object_refuses_unknown_format_and_keeps_state():
    from traitlets import TraitError
    m = ScenarioModel(model="llama-3.1-70b", gpu="b200", interconnect="nvlink5", tp=2)
    m.set(adapt=True, weight_format="mxfp4")
    before = m.result.tpot_s
    with pytest.raises(TraitError, match="closest: nvfp4"):
        m.set(adapt=True, weight_format="nvfp5")
    assert (m.weight_format, m.weight_bits, m.result.tpot_s) == ("mxfp4", 4, before)


def test_dashboard_format_dropdown_drives_the_model_and_the_header():
    pytest.importorskip("ipywidgets")
    from nexora_widgets.cards import MetricCards
    from nexora_widgets.controls import Controls
    c = Controls(model="llama-3.1-70b", gpu="b200", interconnect="nvlink5", tp=2)
    w, m = c.widgets, c.model
    assert tuple(w["weight_format"].options) == WEIGHT_FORMATS
    t16 = m.result.tpot_s
    w["weight_format"].value = "nvfp4"
    assert (m.weight_format, m.weight_bits, w["weight_bits"].value) == ("nvfp4", 4, 4)
    assert m.result.tpot_s < t16 and "the bits of nvfp4" in c.message.value
    cards = MetricCards(m)
    assert "nvfp4 weights" in cards.header.value
    w["weight_bits"].value = 8
    assert (m.weight_format, w["weight_format"].value) == ("auto", "auto")
    w["gpu"].value = "h100-sxm"
    w["weight_format"].value = "mxfp4"
    assert any("no FP4 tensor cores" in x for x in m.result.warnings)


# ---- nexora optimize --weight-formats -----------------------------------------------------
def test_optimize_searches_formats_in_place_of_bits():
    res = km.optimize("llama-3.3-70b", "b200", 8, weight_formats=["bf16", "FP8", "nvfp4"],
                      objective="latency", prompt_tokens=4000, max_ttft_s=0.5)
    c = res.candidates
    assert set(c.weight_format) <= {"bf16", "fp8", "nvfp4"} and len(set(c.weight_format)) > 1
    bits = {"bf16": 16, "fp8": 8, "nvfp4": 4}
    assert all(b == bits[f] for f, b in zip(c.weight_format, c.weight_bits))
    assert res.scenario.weight_format == res.best.weight_format
    assert res.result.tpot_s == pytest.approx(res.best.tpot_s, rel=1e-9)
    # the fastest first token within the limit on a B200 runs its GEMMs on FP4 tensor cores
    assert res.best.weight_format == "nvfp4"
    plain = km.optimize("llama-3.3-70b", "b200", 8, objective="latency")
    assert "weight_format" not in plain.candidates.columns          # bits searched, as before


def test_optimize_bad_format_exits_2_naming_the_flag(capsys):
    rc, _, err = run(capsys, cli.main, "optimize", "--model", "llama-3.3-70b", "--gpu", "b200",
                     "--weight-formats", "bf16,nvpf4")
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "--weight-formats" in err and "closest: nvfp4" in err
    with pytest.raises(ValueError, match="empty"):
        km.optimize("llama-3.3-70b", "b200", 8, weight_formats=[])


# ---- a quantised checkpoint's config.json names its format --------------------------------
@pytest.mark.parametrize("q, fmt", [
    ({"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128]}, "fp8"),  # DeepSeek-V3
    ({"quant_method": "mxfp4"}, "mxfp4"),                                             # gpt-oss
    ({"quant_method": "awq", "bits": 4, "group_size": 128}, "int4-awq"),
    ({"quant_method": "gptq", "bits": 4}, "gptq"), ({"quant_method": "gptq", "bits": 8}, "int8"),
    ({"quant_method": "modelopt", "quant_algo": "NVFP4"}, "nvfp4"),
    ({"quant_method": "modelopt", "quant_algo": "FP8"}, "fp8"),
    ({"quant_method": "compressed-tensors", "format": "nvfp4-pack-quantized"}, "nvfp4"),
    ({"quant_method": "bitsandbytes", "load_in_4bit": True}, None),                   # NF4: none here
    ({"quant_method": "something-new"}, None),
])
def test_quantization_config_names_a_format(q, fmt):
    from kernel_model.hf_config import quantization_format
    assert quantization_format({"quantization_config": q}) == fmt
    assert quantization_format({}) is None


def test_cli_runs_a_quantised_config_in_its_format_unless_told_otherwise(capsys, tmp_path):
    from pathlib import Path
    src = Path(__file__).parent / "fixtures" / "hf" / "deepseek-v3" / "config.json"
    cfg = json.loads(src.read_text())
    cfg["quantization_config"] = {"quant_method": "modelopt", "quant_algo": "NVFP4"}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    base = ("--model", str(path), "--gpu", "b200", "--interconnect", "nvlink5", "--tp", "8", "--json")
    rc, out, err = run(capsys, cli.main, *base)
    assert rc == 0, err
    assert json.loads(out)["scenario"]["weight_format"] == "nvfp4"
    assert "quantization_config names nvfp4" in err
    rc, out, _ = run(capsys, cli.main, *base, "--weight-bits", "16")      # the user's bits win
    assert json.loads(out)["scenario"]["weight_format"] == "auto"
    assert json.loads(out)["scenario"]["weight_bits"] == 16
    rc, out, _ = run(capsys, cli.main, *base, "--weight-format", "fp8")   # and the user's format
    assert json.loads(out)["scenario"]["weight_format"] == "fp8"


def test_serving_takes_a_config_json_and_its_format(capsys):
    from pathlib import Path
    path = Path(__file__).parent / "fixtures" / "hf" / "deepseek-v3" / "config.json"
    rc, out, err = run(capsys, serving_main, "serving", "--model", str(path), "--gpu", "h200",
                       "--tp", "8", "--requests", "20", "--json")
    assert rc == 0, err
    sc = json.loads(out)["config"]["scenario"]
    assert sc["model"] == "deepseek-v3-hf" and sc["weight_format"] == "fp8"
    rc, _, err = run(capsys, serving_main, "serving", "--model", "/no/such/config.json")
    assert rc == 2 and "--model" in err and "no such file" in err
