"""Model imports (HF config.json, research-model YAML) and attention variants via simulate()."""
import importlib
import json
import warnings
from dataclasses import replace
from pathlib import Path

import pytest

import kernel_model as km
from kernel_model.hf_config import model_from_hf_config, SUPPORTED
from kernel_model.yaml_import import load_yaml, gpu_from_yaml, model_from_yaml

FIX = Path(__file__).parent / "fixtures"
HF = FIX / "hf"
YAML = FIX / "yaml"

# Published parameter counts (billions): total, active (model cards / papers)
PUBLISHED = {
    "mistral-7b-v0.1": (7.24, 7.24), "mixtral-8x7b-v0.1": (46.7, 12.9), "qwen2-7b": (7.6, 7.6),
    "qwen1.5-moe-a2.7b": (14.3, 2.7), "gpt2": (0.124, 0.124), "pythia-1.4b": (1.41, 1.41),
    "opt-1.3b": (1.3, 1.3), "phi-3-mini-4k-instruct": (3.8, 3.8), "deepseek-v3": (671, 37),
}


@pytest.fixture(autouse=True)
def _restore_registries():
    """Imports register models / GPUs globally: undo that after each test so other test
    files see only the presets."""
    models, hardware, energy = (importlib.import_module(f"kernel_model.{m}")
                                for m in ("models", "hardware", "energy"))
    saved = (dict(models._USER_MODELS), dict(hardware.GPUS), dict(energy._OVERRIDES))
    yield
    for reg, old in zip((models._USER_MODELS, hardware.GPUS, energy._OVERRIDES), saved):
        reg.clear()
        reg.update(old)


def _load(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return model_from_hf_config(HF / name / "config.json")


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_fixture_parameter_counts_match_published(name):
    from kernel_model.models import MODELS
    spec = _load(name)
    # an imported config never shadows a preset of the same name: it gets "-hf"
    assert spec.name == (name + "-hf" if name in MODELS else name)
    total, active = PUBLISHED[name]
    assert spec.total_params / 1e9 == pytest.approx(total, rel=0.03)
    assert spec.active_params / 1e9 == pytest.approx(active, rel=0.04)
    assert spec.name in km.list_models()
    assert spec.name not in MODELS                              # registered, not a preset
    res = km.simulate(model=spec.name, gpu="h200-sxm", interconnect="nvlink4",
                      tp=8 if spec.heads % 8 == 0 else 4, batch=2, prompt_tokens=64,
                      output_tokens=8)
    assert res.tpot_s > 0 and res.memory["weights"] > 0


def test_llama_config_equals_preset_shape():
    spec = model_from_hf_config(HF / "llama-2-7b")                 # folder works too
    assert spec.name == "llama-2-7b-hf"                              # never shadows a preset
    preset = km.get_model("llama-2-7b")
    assert replace(spec, name=preset.name, source=preset.source) == preset


def test_families_map_mlp_and_attention():
    assert _load("gpt2").gated_mlp is False and _load("gpt2").ffn == 4 * 768
    assert _load("gpt2").tie_embeddings and _load("opt-1.3b").tie_embeddings
    assert not _load("pythia-1.4b").tie_embeddings
    assert _load("mistral-7b-v0.1").attention == "gqa"
    assert _load("phi-3-mini-4k-instruct").attention == "mha"
    mix = _load("mixtral-8x7b-v0.1")
    assert (mix.experts, mix.top_k, mix.expert_ffn) == (8, 2, 14336)
    q = _load("qwen1.5-moe-a2.7b")
    assert (q.experts, q.top_k, q.expert_ffn, q.shared_experts, q.shared_ffn) == (60, 4, 1408, 1, 5632)
    ds = _load("deepseek-v3")
    assert ds.attention == "mla" and ds.dense_layers == 3 and ds.shared_experts == 1
    assert (ds.kv_lora_rank, ds.qk_rope_dim, ds.q_lora_rank) == (512, 64, 1536)
    assert set(PUBLISHED) | {"llama-2-7b"} == {p.name for p in HF.iterdir()}
    assert {"llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "gpt2", "gpt_neox", "opt",
            "phi3", "deepseek_v3"} <= set(SUPPORTED)


def test_mla_kv_cache_is_latent_rank_plus_rope():
    ds = _load("deepseek-v3")
    kw = dict(gpu="h200-sxm", interconnect="nvlink4", tp=8, pp=2, batch=4, prompt_tokens=1000,
              output_tokens=24, weight_bits=8)
    res = km.simulate(model=ds.name, **kw)
    L_stage = 31                                               # ceil(61 / 2)
    expect = 4 * 1024 * L_stage * (512 + 64) * 2                # replicated over TP, 16-bit
    assert res.memory["kv_cache"] == pytest.approx(expect)
    # the same model with plain multi-head attention (128 heads x 128 dims, K and V)
    mha = km.register_model(replace(ds, name="deepseek-v3-mha", kv_lora_rank=0, q_lora_rank=0,
                                    head_dim=128, kv_heads=128))
    res_mha = km.simulate(model=mha.name, **kw)
    per_gpu_mha = 4 * 1024 * L_stage * 2 * 128 * 128 / 8 * 2
    assert res_mha.memory["kv_cache"] == pytest.approx(per_gpu_mha)
    assert res_mha.memory["kv_cache"] > 7 * res.memory["kv_cache"]


def test_gqa_mqa_kv_cache_and_kv_precision():
    base = json.loads((HF / "mistral-7b-v0.1" / "config.json").read_text())
    base["sliding_window"] = None
    mqa = model_from_hf_config(dict(base, num_key_value_heads=1), name="mistral-mqa")
    mha = model_from_hf_config(dict(base, num_key_value_heads=32), name="mistral-mha")
    gqa = _load("mistral-7b-v0.1")
    assert (mqa.attention, mha.attention, gqa.attention) == ("mqa", "mha", "gqa")
    kw = dict(gpu="a100-sxm-80gb", interconnect="none", batch=4, prompt_tokens=500, output_tokens=12)
    kv = {s.name: km.simulate(model=s.name, **kw).memory["kv_cache"] for s in (mqa, gqa, mha)}
    assert kv["mistral-mha"] == pytest.approx(4 * 512 * 32 * 2 * 32 * 128 * 2)
    assert kv["mistral-7b-v0.1"] == pytest.approx(kv["mistral-mha"] / 4)
    assert kv["mistral-mqa"] == pytest.approx(kv["mistral-mha"] / 32)
    kv8 = km.simulate(model=gqa.name, kv_bits=8, **kw)
    assert kv8.memory["kv_cache"] == pytest.approx(kv["mistral-7b-v0.1"] / 2)
    # decode reads the KV cache: 8-bit KV never slower at long context
    long = dict(kw, prompt_tokens=8000, batch=16)
    assert km.simulate(model=gqa.name, kv_bits=8, **long).tpot_s < \
        km.simulate(model=gqa.name, **long).tpot_s


def test_flash_attention_changes_prefill_traffic():
    gqa = _load("mistral-7b-v0.1")
    kw = dict(model=gqa.name, gpu="a100-sxm-80gb", interconnect="none", prompt_tokens=4096)
    on, off = km.simulate(flash_attention=True, **kw), km.simulate(flash_attention=False, **kw)
    assert off.ttft_s > on.ttft_s and off.ttft_breakdown["hbm"] > on.ttft_breakdown["hbm"]
    assert off.memory["activations"] > on.memory["activations"]


def test_errors_name_the_problem(tmp_path):
    base = json.loads((HF / "mistral-7b-v0.1" / "config.json").read_text())
    with pytest.raises(ValueError, match="'bert'.*supported: llama"):
        model_from_hf_config(dict(base, model_type="bert"))
    missing = dict(base)
    del missing["intermediate_size"]
    with pytest.raises(ValueError, match="intermediate_size"):
        model_from_hf_config(missing)
    with pytest.raises(ValueError, match="model_type"):
        model_from_hf_config({"hidden_size": 8})
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        model_from_hf_config(bad)
    with pytest.raises(ValueError, match="does not exist"):
        model_from_hf_config(tmp_path / "nope.json")
    listed = tmp_path / "list" / "config.json"
    listed.parent.mkdir()
    listed.write_text("[1, 2]")
    with pytest.raises(ValueError, match="must hold a mapping at the top level, not list"):
        model_from_hf_config(listed.parent)                      # the folder finds config.json
    with pytest.raises(ValueError, match="num_key_value_heads"):
        model_from_hf_config(dict(base, num_key_value_heads=5), name="x")
    ds = json.loads((HF / "deepseek-v3" / "config.json").read_text())
    del ds["kv_lora_rank"]
    with pytest.raises(ValueError, match="kv_lora_rank"):
        model_from_hf_config(ds)


def test_ignored_fields_are_reported():
    with pytest.warns(UserWarning, match="sliding_window=4096"):
        model_from_hf_config(HF / "mistral-7b-v0.1" / "config.json")
    with pytest.warns(UserWarning, match="num_nextn_predict_layers"):
        model_from_hf_config(HF / "deepseek-v3" / "config.json")


# ---- YAML in the research model's layout ---------------------------------------------------
def test_yaml_hardware_maps_to_a_gpu_preset():
    with pytest.warns(UserWarning, match="SRAM-L2.size") as rec:
        out = load_yaml(YAML / "a100_like.yaml")
    assert "area_breakdown.core" in str(rec[0].message)
    g = out.gpu
    assert g.name == "a100_like" and g.bf16_tflops == pytest.approx(1.41e9 * 108 * 4 * 512 / 1e12)
    assert (g.hbm_gbps, g.memory_gb, g.tdp_w) == (2039, 80, 400)
    assert out.efficiency == {"launch_overhead_s": 9e-6, "flops_efficiency": 0.75,
                              "hbm_efficiency": 1.0}
    assert out.scenario == {"weight_bits": 16, "gpus_per_node": 8, "pp": 4, "tp": 8}
    assert out.training == {"dp": 2, "pp": 4, "tp": 8}
    assert out.energy["hbm_pj_per_byte"] == pytest.approx(4.5 * 8)
    assert "tech_param.network.intra_node.latency" in out.ignored
    # registered: usable by name, with its energy coefficients
    res = km.simulate(model="llama-2-7b", gpu="a100_like", interconnect="nvlink", tp=8,
                      efficiency=out.efficiency)
    ref = km.simulate(model="llama-2-7b", gpu="a100-sxm-80gb", interconnect="nvlink", tp=8,
                      efficiency=out.efficiency)
    assert res.tpot_s == pytest.approx(ref.tpot_s, rel=0.01)       # same chip, same numbers
    from kernel_model.energy import energy_params
    assert energy_params("a100_like").hbm_pj_per_byte == pytest.approx(36.0)


def test_yaml_model_and_gemm():
    with pytest.warns(UserWarning, match="n_tokens"):
        out = load_yaml(YAML / "gpt_llm.yaml")
    spec = out.model
    ref = km.get_model("gpt-22b")
    assert (spec.layers, spec.hidden, spec.heads, spec.ffn, spec.vocab) == \
        (ref.layers, ref.hidden, ref.heads, ref.ffn, ref.vocab)
    assert out.training == {"global_batch": 64, "seq_len": 2048, "pp": 2}
    from kernel_model.training import simulate_training
    t = simulate_training(model=spec.name, tp=8, **out.training)
    r = simulate_training(model="gpt-22b", tp=8, **out.training)
    assert t.iteration_s == pytest.approx(r.iteration_s)
    g = load_yaml(YAML / "gemm.yaml")
    assert g.kind == "gemm" and g.gemm == {"m": 4096, "k": 8192, "n": 2048, "backward": True}
    from kernel_model.gemm import gemm
    assert gemm(**g.gemm, gpu="a100-sxm-80gb").flops == 3 * 2 * 4096 * 8192 * 2048


def test_yaml_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="bad.yaml.*must hold a mapping at the top level, not list"):
        load_yaml(bad)
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ValueError, match="bad.yaml.*cannot be parsed"):
        load_yaml(bad)
    with pytest.raises(ValueError, match="YAML file .*nope.yaml.* does not exist"):
        load_yaml(tmp_path / "nope.yaml")
    with pytest.raises(ValueError, match="LSTM"):
        load_yaml({"model_param": {"mode": "LSTM"}}, name="x")
    with pytest.raises(ValueError, match="num_heads"):
        load_yaml({"model_param": {"mode": "LLM", "hidden_dim": 64, "num_layers": 2,
                                   "vocab_size": 100}}, name="tiny")
    with pytest.raises(ValueError, match="tech_param.core.num_bundles"):
        load_yaml({"tech_param": {"core": {"operating_frequency": 1e9}}}, name="chip")
    with pytest.raises(ValueError, match="built-in GPU preset"):
        load_yaml(YAML / "a100_like.yaml", name="h100-sxm")
    with pytest.raises(ValueError, match="neither"):
        load_yaml({"foo": 1}, name="x")
    with pytest.raises(ValueError, match="unit"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gpu_from_yaml({"tech_param": {"core": {"operating_frequency": 1e9, "num_bundles": 1,
                                                   "num_mcu_per_bundle": 1,
                                                   "nominal_flop_rate_per_mcu": 1},
                                          "DRAM": {"size": "80 parsecs", "bandwidth": 1}},
                           "power_breakdown": {"TDP": 1}}, name="chip2")
    with pytest.raises(ValueError, match="not an LLM"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model_from_yaml(YAML / "gemm.yaml")


def test_training_cli_reads_a_config_json(capsys):
    from kernel_model.training import cli_main
    argv = ["--mode", "training", "--model", str(HF / "mistral-7b-v0.1" / "config.json"),
            "--gpu", "h100-sxm", "--tp", "8", "--seq-len", "1024", "--global-batch", "8",
            "--json"]
    assert cli_main(argv) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["config"]["model"] == "mistral-7b-v0.1"
    # the ignored sliding window is one note line on stderr, not a Python warning
    assert out.err.count("\n") == 1 and "note:" in out.err and "sliding_window" in out.err
    assert cli_main(argv[:3] + [str(HF / "nope" / "config.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nexora: error:") and "no such file" in err
