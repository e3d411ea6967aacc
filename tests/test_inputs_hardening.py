"""Issue 12 items 2, 3, 5, 9, 10, 15, 17, 18: bad config / YAML / calibration input gives a
clear ValueError at once (naming the field, the value and what is allowed), never a hang,
a traceback from deep inside, or a silently wrong model."""
import importlib
import json
import math
import os
import threading
import time
import warnings
from pathlib import Path

import pytest

import kernel_model as km
from kernel_model.hf_config import model_from_hf_config
from kernel_model.yaml_import import load_yaml

HF = Path(__file__).parent / "fixtures" / "hf"
YAML = Path(__file__).parent / "fixtures" / "yaml"
NAN, INF = float("nan"), float("inf")


@pytest.fixture(autouse=True)
def _restore_registries():
    models, hardware, energy = (importlib.import_module(f"kernel_model.{m}")
                                for m in ("models", "hardware", "energy"))
    saved = (dict(models._USER_MODELS), dict(hardware.GPUS), dict(energy._OVERRIDES))
    yield
    for reg, old in zip((models._USER_MODELS, hardware.GPUS, energy._OVERRIDES), saved):
        reg.clear()
        reg.update(old)


def cfg(name):
    return json.loads((HF / name / "config.json").read_text())


def quiet(fn, *a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return fn(*a, **kw)


def in_thread(fn, timeout=10.0):
    """(finished, exception) of ``fn()`` run in a daemon thread for at most ``timeout`` s."""
    box = {}

    def run():
        try:
            fn()
        except BaseException as e:          # noqa: BLE001 - report whatever it raised
            box["exc"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    return not t.is_alive(), box.get("exc")


# ---- item 5: only regular files under a size limit ------------------------------------------
def test_safe_reader_refuses_devices_fifos_directories_and_big_files(tmp_path):
    from kernel_model._files import read_text_file, check_file
    with pytest.raises(ValueError, match=r"'/dev/zero' is a device; give a regular file"):
        read_text_file("/dev/zero", 1000, "config file")
    with pytest.raises(ValueError, match="is a directory"):
        read_text_file(tmp_path, 1000, "config file")
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(5000)                      # sparse: nothing is written
    with pytest.raises(ValueError, match=r"config file .*big.json.* is 4.88 KiB; at most 1000 "
                                         r"bytes is allowed"):
        read_text_file(big, 1000, "config file")
    assert check_file(big, 5000) == 5000
    ok = tmp_path / "ok.txt"
    ok.write_text("\ufeffhé")
    assert read_text_file(ok, 100) == "hé"
    (tmp_path / "bin").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match="not utf-8 text"):
        read_text_file(tmp_path / "bin", 100)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.parametrize("reader", ["hf", "yaml", "profile", "validate"])
def test_a_fifo_is_refused_at_once_not_read(tmp_path, reader):
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    from kernel_model.calibrate import load_profile
    from kernel_model import validate as V            # also its collectives-header sniff
    fn = {"hf": lambda: model_from_hf_config(fifo), "yaml": lambda: load_yaml(fifo),
          "profile": lambda: load_profile(fifo), "validate": lambda: V.validate(fifo)}[reader]
    t0 = time.perf_counter()
    done, exc = in_thread(fn, timeout=5.0)
    if not done:                              # old behaviour: blocked in open(); release it
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert done, "reading a FIFO blocked"
    assert time.perf_counter() - t0 < 2.0
    assert isinstance(exc, ValueError) and "FIFO" in str(exc) and str(fifo) in str(exc)


def test_device_and_oversized_config_files(tmp_path):
    with pytest.raises(ValueError, match=r"config file '/dev/null' is a device"):
        model_from_hf_config("/dev/null")
    with pytest.raises(ValueError, match=r"YAML file '/dev/null' is a device"):
        load_yaml("/dev/null")
    big = tmp_path / "config.json"
    with open(big, "wb") as f:
        f.truncate(64 * 2**20)                # sparse 64 MiB
    with pytest.raises(ValueError, match="at most 16 MiB is allowed"):
        model_from_hf_config(big)


# ---- items 3 and 9: config.json sizes and types ----------------------------------------------
def isolated(code, timeout=60.0):
    """Run ``code`` in a fresh interpreter (so a hang can be stopped): (finished, output)."""
    import subprocess
    import sys
    try:
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=timeout, env=dict(os.environ))
    except subprocess.TimeoutExpired:
        return False, ""
    return True, p.stdout + p.stderr


@pytest.mark.parametrize("family", ["qwen1.5-moe-a2.7b", "deepseek-v3", "mistral-7b-v0.1"])
def test_huge_layer_count_is_refused_at_once(family):
    code = f"""
import json, time
from kernel_model.hf_config import model_from_hf_config
cfg = dict(json.load(open({str(HF / family / "config.json")!r})), num_hidden_layers=1e12)
t = time.perf_counter()
try:
    model_from_hf_config(cfg)
except ValueError as e:
    print("ValueError:", e)
print("seconds:", time.perf_counter() - t)
"""
    done, out = isolated(code, timeout=60.0)
    assert done, "model_from_hf_config hung on num_hidden_layers=1e12"
    assert ("ValueError: config: key 'num_hidden_layers'=1000000000000.0 is not allowed: must "
            "be a whole number in [1, 4096]") in out
    assert float(out.split("seconds:")[1]) < 1.0


@pytest.mark.parametrize("change,match", [
    ({"vocab_size": 0}, r"'vocab_size'=0 is not allowed: must be a whole number in \[1, "),
    ({"vocab_size": INF}, r"'vocab_size'=inf is not allowed"),
    ({"hidden_size": NAN}, r"'hidden_size'=nan is not allowed"),
    ({"intermediate_size": -5}, r"'intermediate_size'=-5 is not allowed"),
    ({"intermediate_size": 1.5}, r"'intermediate_size'=1.5 is not allowed: must be a whole"),
    ({"num_attention_heads": 8192, "num_key_value_heads": 8},
     r"num_attention_heads=8192 is not allowed: more heads than hidden_size=4096"),
    ({"num_key_value_heads": 64}, r"num_key_value_heads=64 must divide num_attention_heads=32"),
    ({"tie_word_embeddings": "false"}, r"'tie_word_embeddings'='false' is not allowed: must be "
                                       r"true or false"),
    ({"vocab_size": "32000"}, r"'vocab_size'='32000' is not allowed"),
])
def test_dense_config_values_are_checked(change, match):
    with pytest.raises(ValueError, match=match):
        model_from_hf_config(dict(cfg("mistral-7b-v0.1"), sliding_window=None, **change))


@pytest.mark.parametrize("change,match", [
    ({"mlp_only_layers": 5}, r"'mlp_only_layers'=5 is not allowed: must be a list of layer "
                             r"indices in \[0, 23\]"),
    ({"mlp_only_layers": [0, 99]}, r"'mlp_only_layers' holds 99"),
    ({"mlp_only_layers": list(range(24))}, r"no layer of the 24 has experts"),
    ({"num_experts_per_tok": 0}, r"'num_experts_per_tok'=0 is not allowed: must be a whole "
                                 r"number in \[1, "),
    ({"num_experts_per_tok": 61}, r"num_experts_per_tok=61 is not allowed: more than the 60 "
                                  r"experts \(allowed: 1..60\)"),
    ({"num_experts": 1e9}, r"'num_experts'=1000000000.0 is not allowed"),
])
def test_moe_config_values_are_checked(change, match):
    with pytest.raises(ValueError, match=match):
        model_from_hf_config(dict(cfg("qwen1.5-moe-a2.7b"), **change))


def test_infinity_in_a_config_file_names_the_key(tmp_path):
    p = tmp_path / "config.json"
    p.write_text((HF / "mistral-7b-v0.1" / "config.json").read_text()
                 .replace('"vocab_size": 32000', '"vocab_size": Infinity'))
    assert "Infinity" in p.read_text()
    with pytest.raises(ValueError, match=r"config .*config.json.*'vocab_size'=inf is not allowed"):
        model_from_hf_config(p)


def test_moe_layer_counts_follow_the_config_rules():
    """Sparse-layer counts computed without a per-layer loop, checked by hand."""
    q = quiet(model_from_hf_config, dict(cfg("qwen1.5-moe-a2.7b"), decoder_sparse_step=2,
                                         mlp_only_layers=[1, 2, 5]), name="q-step2")
    # 24 layers, sparse where (i + 1) % 2 == 0: i = 1, 3, ..., 23 (12); minus 1 and 5 -> 10
    assert q.dense_layers == 24 - 10
    d = quiet(model_from_hf_config, dict(cfg("deepseek-v3"), first_k_dense_replace=4,
                                         moe_layer_freq=3), name="ds-freq3")
    # 61 layers, sparse where i >= 4 and i % 3 == 0: 6, 9, ..., 60 -> 19 layers
    assert d.dense_layers == 61 - 19


# ---- item 18: names ---------------------------------------------------------------------------
def test_a_config_does_not_shadow_a_preset_unless_asked():
    preset = km.get_model("llama-2-7b")
    mistral = dict(cfg("mistral-7b-v0.1"), sliding_window=None)
    with pytest.raises(ValueError, match=r"name 'llama-2-7b' is a built-in model preset; pass "
                                         r"another name= or replace=True"):
        model_from_hf_config(mistral, name="llama-2-7b")
    with pytest.raises(ValueError, match="built-in model preset"):
        model_from_hf_config(mistral, name="LLAMA-7B")               # an alias, any case
    assert km.get_model("llama-2-7b") is preset
    spec = model_from_hf_config(mistral, name="llama-2-7b", replace=True)
    assert km.get_model("llama-2-7b") is spec and spec.kv_heads == 8   # what Scenario uses now
    assert km.Scenario(model="llama-2-7b").model_spec() is spec
    with pytest.raises(ValueError, match="built-in preset"):
        km.register_model(km.ModelSpec("mistral-7b", 1, 64, 4, 4, 128, 100))


def test_two_configs_in_one_folder_get_unique_names(tmp_path):
    a, b = tmp_path / "a" / "config.json", tmp_path / "b.json"
    a.parent.mkdir()
    small = dict(cfg("mistral-7b-v0.1"), sliding_window=None)
    small.pop("_name_or_path", None)
    a.write_text(json.dumps(small))
    b.write_text(json.dumps(dict(small, num_hidden_layers=4)))
    c = tmp_path / "c.json"
    c.write_text(json.dumps(dict(small, num_hidden_layers=6, _name_or_path="org/b")))
    sa, sb, sc = (model_from_hf_config(p) for p in (a, b, c))
    assert (sa.name, sb.name, sc.name) == ("a", "b", "b-2")    # same repo name: made unique
    assert km.get_model("b").layers == 4 and km.get_model("b-2").layers == 6
    assert model_from_hf_config(c).name == "b-2"                # the same file again: same name


def test_register_model_checks_the_spec():
    with pytest.raises(ValueError, match=r"layers=0 is not allowed: must be a whole number in "
                                         r"\[1, 4096\]"):
        km.register_model(km.ModelSpec("tiny", 0, 64, 4, 4, 128, 100))
    with pytest.raises(ValueError, match=r"heads=128 is not allowed: more attention heads than "
                                         r"hidden=64"):
        km.register_model(km.ModelSpec("tiny", 2, 64, 128, 128, 128, 100))
    with pytest.raises(ValueError, match=r"top_k=3 is not allowed: more than experts=2"):
        km.register_model(km.ModelSpec("tiny", 2, 64, 4, 4, 128, 100, experts=2, top_k=3))
    with pytest.raises(ValueError, match=r"vocab=1.5 is not allowed"):
        km.register_model(km.ModelSpec("tiny", 2, 64, 4, 4, 128, 1.5))


# ---- item 2: YAML aliases, recursion, depth ---------------------------------------------------
def _laughs(levels, width):
    lines = ["a0: &a0 {x: 1, y: 2}"]
    for i in range(1, levels + 1):
        keys = ", ".join(f"k{j}: *a{i - 1}" for j in range(width))
        lines.append(f"a{i}: &a{i} {{{keys}}}")
    lines.append(f"model_param: {{mode: LLM, stuff: *a{levels}}}")
    return "\n".join(lines) + "\n"


def test_billion_laughs_yaml_is_refused_quickly(tmp_path):
    p = tmp_path / "lol.yaml"
    p.write_text(_laughs(6, 10))              # ~1.5 KB, 1e6 keys once expanded
    assert p.stat().st_size < 2000
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"lol.yaml.* expands to more than 100,000 values "
                                         r"\(nested aliases\?\)"):
        load_yaml(p, name="lol")
    assert time.perf_counter() - t0 < 1.0


def test_self_referencing_anchor_and_deep_nesting_are_refused(tmp_path):
    p = tmp_path / "rec.yaml"
    p.write_text("tech_param: &x {core: *x}\n")
    with pytest.raises(ValueError, match="anchor that refers to itself"):
        load_yaml(p, name="rec")
    p.write_text("model_param: " + "[" * 3000 + "]" * 3000 + "\n")
    with pytest.raises(ValueError, match="nested deeper than 64 levels"):
        load_yaml(p, name="deep")


def test_shared_aliases_within_the_limit_still_load(tmp_path):
    from kernel_model.yaml_import import parse_yaml, check_node_graph
    import yaml
    text = _laughs(3, 10)                     # 2 + 10 + 100 + 1000 leaves: fine
    assert parse_yaml(text)["a3"]["k9"]["k0"]["k5"] == {"x": 1, "y": 2}
    node = yaml.compose(text)
    # hand count: a0 mapping = 1 + 4 scalars = 5; a_i = 1 + 10 * (1 key + size(a_{i-1}))
    sizes = [5]
    for _ in range(3):
        sizes.append(1 + 10 * (1 + sizes[-1]))
    # top mapping: itself, four "a_i: value" pairs, then "model_param:" and its mapping
    # (itself, "mode", "LLM", "stuff", a3 expanded)
    top = 1 + sum(1 + s for s in sizes) + 1 + (1 + 1 + 1 + 1 + sizes[-1])
    assert check_node_graph(node) == top


# ---- item 17: YAML numbers ----------------------------------------------------------------
def _hw(**over):
    import yaml
    d = yaml.safe_load((YAML / "a100_like.yaml").read_text())
    for dotted, v in over.items():
        cur = d
        *path, last = dotted.split("__")
        for k in path:
            cur = cur[k]
        cur[last] = v
    return d


@pytest.mark.parametrize("over,match", [
    ({"tech_param__DRAM__size": NAN}, r"DRAM.size=nan is not allowed: must be a finite number"),
    ({"tech_param__DRAM__bandwidth": ".inf"}, r"DRAM.bandwidth='.inf'"),
    ({"tech_param__core__num_bundles": INF}, r"num_bundles=inf is not allowed"),
    ({"power_breakdown__TDP": -400}, r"TDP=-400 is not allowed"),
    ({"tech_param__DRAM__dynamic_energy_per_bit": -4.5e-12},
     r"DRAM.dynamic_energy_per_bit \(J\)=-4.5e-12 is not allowed: must be a finite number in \[0, "),
    ({"sw_param__kernel_launch_overhead": NAN}, r"kernel_launch_overhead \(s\)=nan"),
    ({"tech_param__core__util": 1.5}, r"tech_param.core.util=1.5 is not allowed"),
    ({"system_hierarchy__num_devices_per_node": 0}, r"num_devices_per_node=0 is not allowed"),
    ({"scheduling_param__kp1": NAN}, r"scheduling_param.kp1=nan is not allowed"),
])
def test_yaml_hardware_numbers_are_checked(over, match):
    with pytest.raises(ValueError, match=match):
        quiet(load_yaml, _hw(**over), name="chip")


def test_yaml_nan_literal_from_a_file(tmp_path):
    p = tmp_path / "chip.yaml"
    p.write_text((YAML / "a100_like.yaml").read_text().replace("size: 80 GB", "size: .nan"))
    assert ".nan" in p.read_text()
    with pytest.raises(ValueError, match=r"DRAM.size=nan is not allowed"):
        quiet(load_yaml, p)


@pytest.mark.parametrize("over,match", [
    ({"num_kv_heads": -8}, r"model_param.num_kv_heads=-8 is not allowed"),
    ({"num_kv_heads": 5}, r"num_kv_heads=5 is not allowed: must divide num_heads=64"),
    ({"ffn_mult": -1, "ffn_dim": None}, r"model_param.ffn_mult=-1 is not allowed"),
    ({"ffn_mult": NAN, "ffn_dim": None}, r"model_param.ffn_mult=nan is not allowed"),
    ({"hidden_dim": NAN}, r"model_param.hidden_dim=nan is not allowed"),
    ({"num_layers": 1e12}, r"model_param.num_layers=1000000000000.0 is not allowed"),
    ({"num_heads": 8192}, r"model_param.num_heads=8192 is not allowed|heads=8192 is not allowed"),
])
def test_yaml_model_numbers_are_checked(over, match):
    import yaml
    d = yaml.safe_load((YAML / "gpt_llm.yaml").read_text())
    d["model_param"].update(over)
    with pytest.raises(ValueError, match=match):
        quiet(load_yaml, d, name="m")


def test_yaml_gemm_backward_must_be_a_bool():
    d = {"model_param": {"mode": "GEMM", "M": 8, "K": 8, "N": 8, "backward": "no"}}
    with pytest.raises(ValueError, match=r"backward='no' is not allowed: must be true or false"):
        load_yaml(d)
    with pytest.raises(ValueError, match=r"model_param.M=nan is not allowed"):
        load_yaml({"model_param": {"mode": "GEMM", "M": NAN, "K": 8, "N": 8}})


def test_energy_overrides_are_checked():
    from kernel_model.energy import register_energy, energy_params
    for field, v in (("hbm_pj_per_byte", -1.0), ("hbm_pj_per_byte", NAN), ("flop_pj", INF),
                     ("tdp_w", 0.0)):
        with pytest.raises(ValueError, match=rf"energy field {field}={v!r} for 'a100-sxm-80gb' "
                                             rf"is not allowed"):
            register_energy("a100-sxm-80gb", **{field: v})
    with pytest.raises(ValueError, match=r"idle_w=500 is not allowed: more than tdp_w=400"):
        register_energy("a100-sxm-80gb", idle_w=500.0, tdp_w=400.0)
    register_energy("a100-sxm-80gb", hbm_pj_per_byte=12.5)
    assert energy_params("a100-sxm-80gb").hbm_pj_per_byte == 12.5


# ---- items 10 and 15: calibration values ------------------------------------------------------
BAD_EFFICIENCY = [
    ({"roofline_exponent": 0}, r"roofline_exponent=0 is not allowed: must be a number >= 1"),
    ({"roofline_exponent": 0.5}, r"roofline_exponent=0.5 is not allowed"),
    ({"roofline_exponent": NAN}, r"roofline_exponent=nan is not allowed"),
    ({"launch_overhead_s": NAN}, r"launch_overhead_s=nan is not allowed: must be a finite "
                                 r"number of seconds in \[0, 1\]"),
    ({"launch_overhead_s": INF}, r"launch_overhead_s=inf is not allowed"),
    ({"step_overhead_s": 1e9}, r"step_overhead_s=1000000000.0 is not allowed"),
    ({"hbm_efficiency": NAN}, r"hbm_efficiency=nan is not allowed: must be in \(0, 1\]"),
    ({"flops_efficiency": INF}, r"flops_efficiency=inf is not allowed"),
    ({"direct_allreduce_max_bytes": -1.0}, r"direct_allreduce_max_bytes=-1.0 is not allowed"),
    ({"families": {"ampere": {"collective_overhead_s": NAN}}},
     r"families\['ampere'\] field collective_overhead_s=nan is not allowed"),
]


@pytest.mark.parametrize("eff,match", BAD_EFFICIENCY)
@pytest.mark.parametrize("where", ["simulate", "gemm", "simulate_training", "sweep", "validate"])
def test_nonsense_calibration_is_refused_everywhere(where, eff, match, tmp_path):
    calls = {
        "simulate": lambda: km.simulate(model="llama-2-7b", efficiency=eff),
        "gemm": lambda: km.gemm(1024, 1024, 1024, gpu="a100-sxm-80gb", efficiency=eff),
        "simulate_training": lambda: km.simulate_training(model="gpt-22b", tp=8, global_batch=4,
                                                          efficiency=eff),
        "sweep": lambda: km.sweep({"model": "llama-2-7b", "tp": [1, 2], "efficiency": [eff]}),
        "validate": lambda: km.validate(km.validate.find_measurements(), calibration=eff),
    }
    with pytest.raises(ValueError, match=match):
        calls[where]()


def test_ideal_roofline_and_always_direct_allreduce_stay_allowed():
    base = km.simulate(model="llama-2-7b", interconnect="nvlink", tp=2)
    ideal = km.simulate(model="llama-2-7b", interconnect="nvlink", tp=2,
                        efficiency={"roofline_exponent": INF, "direct_allreduce_max_bytes": INF})
    assert math.isfinite(ideal.tpot_s) and 0 < ideal.tpot_s <= base.tpot_s


@pytest.mark.parametrize("doc,match", [
    ('{"launch_overhead_s": NaN}', r"launch_overhead_s=nan is not allowed"),
    ('{"calibration": {"roofline_exponent": 0}}', r"roofline_exponent=0.0 is not allowed"),
    ('{"hbm_efficiency": Infinity}', r"hbm_efficiency=inf is not allowed"),
])
def test_profile_with_nonfinite_or_nonsense_values(tmp_path, capsys, doc, match):
    from kernel_model.calibrate import load_profile
    prof = tmp_path / "p.json"
    prof.write_text(doc)
    with pytest.raises(ValueError, match=match):
        load_profile(prof)
    meas = km.validate.find_measurements()
    assert km.validate.cli_main([meas, "--calibration", str(prof)]) == 2
    out = capsys.readouterr()
    assert out.err.count("\n") == 1 and out.err.startswith("nexora validate: error: ")
    assert str(prof) in out.err and "MAPE" not in out.out
