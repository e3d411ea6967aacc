"""Presets and names for hardware, models and stacks beyond the two shipped data files:
more GPUs (with datasheet figures), the spellings measurement files use for GPUs and
checkpoints, llama.cpp's GGUF formats, PCIe links named by generation, and the bus
bandwidth the insight sentence names."""
import pandas as pd
import pytest

import kernel_model as km
from kernel_model import collectives as coll
from kernel_model.hardware import canonical_gpu, get_interconnect, COLLECTIVE_CONSTANTS
from kernel_model.formats import get_format
from kernel_model.models import canonical_model
from kernel_model.simulate import link_params
from kernel_model.validate_links import link_for

C = COLLECTIVE_CONSTANTS["eager_call_s"]


# ---- GPU presets: datasheet figures, dense = half the with-sparsity figure -----------------
@pytest.mark.parametrize("name,bf16,fp8,fp4,hbm,mem,family", [
    ("a100-pcie-40gb", 312, None, None, 1555, 40, "ampere"),
    ("h100-nvl", 1671 / 2, 3341 / 2, None, 3900, 94, "hopper"),
    ("l4", 242 / 2, 485 / 2, None, 300, 24, "ada"),
    ("l40", 362 / 2, 724 / 2, None, 864, 48, "ada"),
    ("rtx-a6000", 309.7 / 2, None, None, 768, 48, "ampere"),
    ("rtx-6000-ada", 1457 / 4, 1457 / 2, None, 960, 48, "ada"),
    # 3352 AI TOPS (FP4, sparse) / 2 (dense) / 2 (GeForce: FP32 accumulate at half rate)
    ("rtx-5090", 3352 / 16, 3352 / 8, 3352 / 4, 1792, 32, "blackwell"),
    # HGX B300 per GPU, dense; GB10 (DGX Spark): 1 PFLOP FP4 with sparsity, 2:1 steps down
    ("b300", 2250, 4500, 13125, 8000, 288, "blackwell"),
    ("gb10", 1000 / 8, 1000 / 4, 1000 / 2, 273, 128, "blackwell"),
    ("h200-nvl", 1671 / 2, 3341 / 2, None, 4800, 141, "hopper"),
    # cloud datacenter cards: A40 / A30 BF16 with sparsity / 2; T4's FP16 tensor peak (dense)
    ("a40", 299.4 / 2, None, None, 696, 48, "ampere"),
    ("a30", 330 / 2, None, None, 933, 24, "ampere"),
    ("t4", 65, None, None, 320, 16, "turing"),
])
def test_new_gpu_presets_carry_their_datasheet_figures(name, bf16, fp8, fp4, hbm, mem, family):
    g = km.get_gpu(name)
    assert g.bf16_tflops == pytest.approx(bf16, rel=0.005)
    assert (g.fp8_tflops is None) == (fp8 is None) and (g.fp4_tflops is None) == (fp4 is None)
    if fp8:
        assert g.fp8_tflops == pytest.approx(fp8, rel=0.005)
    if fp4:
        assert g.fp4_tflops == pytest.approx(fp4, rel=0.005)
    assert (g.hbm_gbps, g.memory_gb, g.family) == (hbm, mem, family)
    assert g.source and g.peak_source


def test_geforce_cards_default_to_host_staged_pcie():
    """No P2P on the stock driver: their own link is the host-staged preset; so are the cloud
    cards whose instances give none (A10G: AWS g5, L4: AWS g6), each with its reason."""
    from kernel_model.hardware import NO_P2P
    for name in ("rtx-4090", "rtx-3090", "rtx-5090", "a10g", "l4", "t4"):
        assert get_interconnect(km.get_gpu(name).native_link).host_staged
    assert set(NO_P2P) == {"a10g", "l4", "t4"}
    assert "SHM" in link_for("pcie4", "a10g", "")[1] and "GeForce" in link_for(
        "pcie4", "rtx-4090", "")[1]
    for name in ("l40s", "a100-pcie-80gb", "rtx-a6000", "rtx-pro-6000", "a40", "a30"):
        assert not get_interconnect(km.get_gpu(name).native_link).host_staged


def test_a_bigger_memory_bandwidth_is_never_slower_at_batch_1():
    """Same math, more HBM bandwidth: the A100 PCIe 80 GB decodes no slower than the 40 GB."""
    kw = dict(model="llama-3.1-8b", interconnect="none", batch=1)
    t40 = km.simulate(gpu="a100-pcie-40gb", **kw).tpot_s
    t80 = km.simulate(gpu="a100-pcie-80gb", **kw).tpot_s
    assert t80 < t40


# ---- GPU names as measurement files and nvidia-smi spell them -------------------------------
@pytest.mark.parametrize("spelling,preset", [
    ("NVIDIA H100 80GB HBM3", "h100-sxm"), ("h100-sxm5", "h100-sxm"), ("H100 PCIe", "h100-pcie"),
    ("A100-SXM4-40GB", "a100-sxm-40gb"), ("a100-40gb", "a100-sxm-40gb"),
    ("NVIDIA A100 80GB PCIe", "a100-pcie-80gb"), ("a100-80gb-pcie", "a100-pcie-80gb"),
    ("NVIDIA GeForce RTX 4090", "rtx-4090"), ("rtx4090", "rtx-4090"), ("RTX 5090", "rtx-5090"),
    ("AMD Instinct MI300X", "mi300x"), ("mi300", "mi300x"), ("H200 141GB", "h200-sxm"),
    ("NVIDIA RTX 6000 Ada Generation", "rtx-6000-ada"), ("NVIDIA RTX A6000", "rtx-a6000"),
    ("RTX PRO 6000 Blackwell Server Edition", "rtx-pro-6000"), ("NVIDIA H100 NVL", "h100-nvl"),
    ("B200 SXM6 180GB", "b200"), ("MI300X OAM", "mi300x"), ("h100 pcie 80gb", "h100-pcie"),
    ("HGX B300", "b300"), ("GB300 NVL72", "b300"), ("NVIDIA DGX Spark", "gb10"),
    ("NVIDIA GB10", "gb10"), ("NVIDIA H200 NVL", "h200-nvl"),
    ("NVIDIA GeForce RTX 3090 Ti", "rtx-3090-ti"), ("RTX 3090", "rtx-3090"),
])
def test_usual_gpu_spellings_find_their_preset(spelling, preset):
    assert canonical_gpu(spelling) == preset
    assert km.get_gpu(spelling).name == preset


@pytest.mark.parametrize("name", ["a100-pcie", "h800-pcie", "A800 80GB PCIe", "v100",
                                  "RTX 3080 Ti", "h100-foo", "H200 SXM NVL"])
def test_an_ambiguous_or_unknown_gpu_is_refused_with_the_closest_names(name):
    """A word that names another chip (pcie, ti, a model number) is never dropped."""
    assert canonical_gpu(name) is None
    with pytest.raises(ValueError, match=r"is not a known gpu; closest: "):
        km.get_gpu(name)


# ---- checkpoint names -----------------------------------------------------------------------
@pytest.mark.parametrize("spelling,preset", [
    ("meta-llama/Llama-3.1-70B-Instruct", "llama-3.1-70b"),
    ("meta-llama/Meta-Llama-3-70B-Instruct", "llama-3-70b"), ("llama3-70b", "llama-3-70b"),
    ("Mixtral-8x7B-Instruct-v0.1", "mixtral-8x7b"), ("Llama-2-70b-chat-hf", "llama-2-70b"),
    ("Qwen/Qwen3-235B-A22B-Instruct-2507", "qwen3-235b-a22b"),
    ("qwen2.5-72b-instruct-awq", "qwen2.5-72b"), ("deepseek-r1-0528", "deepseek-v3"),
    ("openai/gpt-oss-20b", "gpt-oss-20b"),
    ("meta-llama/Llama-4-Scout-17B-16E-Instruct", "llama-4-scout-17b-16e"),
])
def test_checkpoint_names_find_their_base_model(spelling, preset):
    assert canonical_model(spelling) == preset
    assert km.get_model(spelling).name == preset


@pytest.mark.parametrize("name", ["llama-3.1-70b-xyz", "falcon-40b", "instruct", "llama-2"])
def test_a_checkpoint_name_with_an_unknown_word_is_refused(name):
    assert canonical_model(name) is None
    with pytest.raises(ValueError, match="is not a known model"):
        km.get_model(name)


def test_dbrx_matches_its_published_parameter_counts():
    """Databricks: 132B parameters in total, 36B active (16 experts, 4 per token)."""
    m = km.get_model("databricks/dbrx-instruct")
    assert (m.name, m.experts, m.top_k) == ("dbrx", 16, 4)
    assert m.total_params / 1e9 == pytest.approx(132, rel=0.01)
    assert m.active_params / 1e9 == pytest.approx(36, rel=0.02)


def test_gpt_oss_20b_matches_its_model_card():
    """OpenAI gpt-oss model card: 20.91 B total, 3.61 B active (embedding lookup not counted)."""
    m = km.get_model("gpt-oss-20b")
    assert m.total_params / 1e9 == pytest.approx(20.91, rel=0.005)
    assert (m.active_params - m.vocab * m.hidden) / 1e9 == pytest.approx(3.61, rel=0.01)


def test_llama4_scout_matches_its_published_parameter_count():
    """Meta: Llama 4 Scout, 17 B active of 109 B total (with a vision encoder, left out)."""
    m = km.get_model("llama-4-scout")
    assert m.total_params / 1e9 == pytest.approx(109, rel=0.015)
    assert m.active_params / 1e9 == pytest.approx(17, rel=0.02)
    assert (m.experts, m.top_k, m.shared_experts, m.dense_layers) == (16, 1, 1, 0)


@pytest.mark.parametrize("name,billions", [
    # totals their model cards publish
    ("mistral-nemo-12b", 12.2), ("mistral-small-24b", 23.6), ("mistral-large-123b", 123),
    ("phi-4", 14.7),
])
def test_more_dense_presets_match_their_published_parameter_counts(name, billions):
    assert km.get_model(name).total_params / 1e9 == pytest.approx(billions, rel=0.01)


@pytest.mark.parametrize("spelling,preset", [
    ("mistralai/Mistral-Large-Instruct-2407", "mistral-large-123b"),
    ("mistralai/Mistral-Nemo-Instruct-2407", "mistral-nemo-12b"),
    ("deepseek-ai/DeepSeek-R1-Distill-Llama-70B", "llama-3.3-70b"),
    ("deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", "qwen2.5-32b"),
    ("Qwen/Qwen3-Coder-30B-A3B-Instruct", "qwen3-30b-a3b"),
    ("microsoft/Phi-3-mini-4k-instruct", "phi-3-mini"),
    ("microsoft/Phi-3-mini-128k-instruct", "phi-3-mini"),
])
def test_more_checkpoint_names(spelling, preset):
    assert km.get_model(spelling).name == preset


# ---- GGUF formats ---------------------------------------------------------------------------
def test_gguf_formats_store_their_block_scales():
    # Q4_0: 32 x 4 bits + one FP16 scale = 18 bytes per 32 weights; Q8_0: 34 bytes per 32
    assert get_format("q4_0").bytes_per_weight == 18 / 32
    assert get_format("q8_0").bytes_per_weight == 34 / 32
    assert get_format("q4_k_m").bytes_per_weight == pytest.approx(4.89 / 8)
    assert get_format("q4_k_m").math == "16"


def test_gguf_formats_are_read_from_the_notes():
    from kernel_model.formats import format_from_notes
    g = km.get_gpu("rtx-4090")
    assert format_from_notes("llama-bench, GGUF Q4_K_M", 4, g)[0] == "q4_k_m"
    assert format_from_notes("model file q8_0.gguf", 8, g)[0] == "q8_0"
    assert format_from_notes("Q4_K_S", 4, g)[0] == "int4-awq"     # not Q4_K_M's 4.89 bits
    with pytest.raises(ValueError, match="weight_bits=4 disagrees"):
        format_from_notes("Q8_0", 4, g)


@pytest.mark.parametrize("spelling,preset", [("HGX B200", "b200"), ("B200 HGX", "b200"),
                                            ("NVIDIA DGX H100", "h100-sxm"), ("DGX A100", "a100-sxm-80gb")])
def test_a_dgx_or_hgx_system_names_its_sxm_gpu(spelling, preset):
    assert canonical_gpu(spelling) == preset


def test_a_bare_fp4_in_the_notes_is_the_vendors_fp4_on_a_4_bit_row():
    from kernel_model.formats import format_from_notes
    assert format_from_notes("FP4 checkpoint (ModelOpt)", 4, km.get_gpu("b200"))[0] == "nvfp4"
    assert format_from_notes("weight format: FP4", 4, km.get_gpu("mi325x"))[0] == "mxfp4"
    assert format_from_notes("FP4 weights, FP8 KV cache", 4, km.get_gpu("b200"))[0] == "nvfp4"
    assert format_from_notes("FP8 weights, not FP4", 8, km.get_gpu("b200"))[0] == "fp8"


@pytest.mark.parametrize("spelling,preset", [
    ("nvidia/Llama-3.3-70B-Instruct-FP4", "llama-3.3-70b"), ("nvidia/DeepSeek-R1-FP4", "deepseek-v3"),
    ("nvidia/Llama-3.1-Nemotron-70B-Instruct-HF", "llama-3.1-70b"), ("Qwen/QwQ-32B", "qwen2.5-32b"),
])
def test_fp4_checkpoints_and_same_shape_fine_tunes(spelling, preset):
    assert canonical_model(spelling) == preset
    assert km.get_model(spelling).name == preset


@pytest.mark.parametrize("spelling,preset", [
    ("Llama 3.1 70B Instruct", "llama-3.1-70b"), ("Mixtral 8x7B", "mixtral-8x7b"),
    ("DeepSeek R1", "deepseek-v3"), ("gpt-oss 120b", "gpt-oss-120b"), ("Llama 2 70B chat", "llama-2-70b"),
])
def test_model_names_written_with_spaces(spelling, preset):
    assert canonical_model(spelling) == preset
    assert km.get_model(spelling).name == preset


def test_fewer_bytes_per_weight_decode_faster_when_bandwidth_bound():
    kw = dict(model="llama-2-7b", gpu="rtx-4090", interconnect="none", batch=1)
    t = {f: km.simulate(weight_format=f, **kw).tpot_s for f in ("fp16", "q8_0", "q4_k_m", "q4_0")}
    assert t["fp16"] > t["q8_0"] > t["q4_k_m"] > t["q4_0"]


# ---- PCIe links named by generation in a measurements file ----------------------------------
@pytest.mark.parametrize("link,gpu,notes,preset", [
    ("pcie4", "rtx-4090", "", "pcie4_bad"),                  # GeForce: no P2P, stock driver
    ("PCIe 4.0", "a100-pcie-80gb", "", "pcie4_good"),         # datacenter card: P2P
    ("pcie5", "rtx-pro-6000", "", "pcie5_good"),
    ("pcie5", "rtx-pro-6000", "dual-socket Turin", "pcie5_bad"),
    ("pcie5", "rtx-pro-6000", "GPUs on different CPU sockets", "pcie5_bad"),   # as collectives
    ("pcie4", "a100-pcie-80gb", "P2P disabled", "pcie4_bad"),
    ("pcie", "rtx-4090", "tinygrad P2P driver", "pcie4_good"),
    ("pcie_gen5", "rtx-5090", "", "pcie4_bad"),              # host-staged at any generation
    ("pcie4", "rtx-pro-6000", "", "pcie4_good"),             # a Gen5 card in a Gen4 slot
    ("pcie", "rtx-pro-6000", "", "pcie5_good"),              # no generation: the card's own
    ("pcie4", "rtx-4090", "p2p: not stated", "pcie4_bad"),   # says nothing either way
    ("pcie4", "l40s", "p2p: not stated", "pcie4_good"),
    ("PCIe Gen4 x16", "a10g", "p2p: no", "pcie4_bad"),
    ("pcie4", "a10g", "", "pcie4_bad"),                      # AWS g5: SHM, no P2P
    ("pcie", "l4", "", "pcie4_bad"),                         # AWS g6: no PCIe P2P
    ("pcie4", "a10g", "P2P enabled", "pcie4_good"),          # the notes win
    ("pcie4", "rtx-4090", "p2p: yes", "pcie4_good"),
])
def test_pcie_links_named_by_generation_resolve_to_a_preset(link, gpu, notes, preset):
    got, why = link_for(link, gpu, notes)
    assert got == preset and why.startswith(link)


@pytest.mark.parametrize("link,gpu,preset", [
    ("nvlink", "h100-sxm", "nvlink4"), ("NVLink", "b200", "nvlink5"),
    ("nvlink3", "h100-nvl", "nvlink_bridge"),
    ("nvlink", "a100-sxm-80gb", "nvlink"),      # the A100's own: NVLink 3
    ("nvlink", "h100-pcie", "nvlink"),          # no NVLink of its own to read it as
])
def test_a_generic_nvlink_on_a_later_gpu_is_that_gpus_nvlink(link, gpu, preset):
    assert link_for(link, gpu, "")[0] == preset


def test_a_preset_name_is_left_as_it_is():
    assert link_for("pcie4_good", "rtx-4090", "no P2P") == ("pcie4_good", "")
    assert link_for("nvlink", "a100-sxm-80gb", "") == ("nvlink", "")


def test_validate_simulates_a_row_whose_link_is_named_by_generation(tmp_path):
    row = dict(id="r1", source="test", trust="B", framework="vLLM 0.6", gpu="NVIDIA GeForce RTX 4090",
               num_gpus=2, interconnect="pcie4", model="meta-llama/Llama-2-13b-hf",
               weight_bits=16, tp=2, pp=1, ep=1, batch=1, prompt_tokens=512, output_tokens=128,
               metric="tpot_ms", value=20.0, notes="")
    preset = dict(row, id="r2", interconnect="pcie4_bad", gpu="rtx-4090", model="llama-2-13b")
    path = tmp_path / "m.csv"
    pd.DataFrame([row, preset]).to_csv(path, index=False)
    out = km.validate(path)
    assert list(out.status) == ["ok", "ok"]
    assert out.predicted.iloc[0] == out.predicted.iloc[1]      # the same system, bit for bit
    assert "pcie4: rtx-4090 has no P2P (GeForce: no P2P on the stock driver" in out.note.iloc[0]


# ---- the bus bandwidth the insight names ----------------------------------------------------
def _link(name, gpn=8, net=None):
    return link_params(None, get_interconnect(name), get_interconnect(net or "ib_ndr"), "auto", gpn)


def test_regime_names_the_bus_bandwidth_of_nvls_not_the_ring():
    """8 H100s, 256 MiB: NVLS moves S at nvls_bw, so the bus bandwidth is 2(n-1)/n x 275."""
    kind, bw = coll.regime(2 ** 28, 8, _link("nvlink4"), C)
    assert kind == "bandwidth-bound"
    assert bw == pytest.approx(2 * 7 / 8 * get_interconnect("nvlink4").nvls_gbps, rel=1e-6)
    assert bw > get_interconnect("nvlink4").bw_gbps


def test_regime_names_ll_bandwidth_where_ll_is_chosen():
    """4 GPUs through the host at 64 KiB run LL: ll_frac of the link's bandwidth."""
    kind, bw = coll.regime(2 ** 16, 4, _link("pcie4_bad", 4), C)
    assert kind == "bandwidth-bound"
    assert bw == pytest.approx(COLLECTIVE_CONSTANTS["ll_frac"] * 3.11, rel=1e-6)


def test_regime_bandwidth_matches_the_time_nccl_tests_would_report():
    """busbw = 2(n-1)/n S / t tends to the regime's figure for large messages."""
    L = _link("nvlink4", 8, "ib_ndr")
    for n in (8.0, 16.0, 32.0):
        S = 2.0 ** 34
        t = float(coll.allreduce(S, n, L, C))
        _, bw = coll.regime(S, n, L, C)
        assert 2 * (n - 1) / n * S / t / 1e9 == pytest.approx(bw, rel=0.01)


# ---- the command line takes the same spellings ----------------------------------------------
def test_cli_takes_a_hugging_face_id_and_an_nvidia_smi_gpu_name(capsys, tmp_path, monkeypatch):
    import json
    from kernel_model import cli
    monkeypatch.chdir(tmp_path)                   # no folder called meta-llama here
    rc = cli.main(["--gpu", "NVIDIA H100 80GB HBM3", "--model", "meta-llama/Llama-3.1-70B-Instruct",
                   "--tp", "8", "--interconnect", "nvlink4", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    ref = km.simulate(model="llama-3.1-70b", gpu="h100-sxm", interconnect="nvlink4", tp=8)
    assert json.loads(out)["tpot_s"] == ref.tpot_s
    # an id that names no preset is still read as a missing file, exit 2, one line
    rc = cli.main(["--model", "meta-llama/Llama-9-70B"])
    err = capsys.readouterr().err
    assert rc == 2 and "no such file" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("spelling,preset", [
    ("xgmi", "infinity_fabric"), ("Infinity-Fabric", "infinity_fabric"), ("ib ndr", "ib_ndr"),
    ("IB_HDR", "ib_hdr"), ("nvlink-bridge", "nvlink_bridge"),
])
def test_link_spellings_find_their_preset(spelling, preset):
    assert get_interconnect(spelling).name == preset


def test_a_link_named_by_generation_alone_is_not_a_preset_for_a_scenario():
    """pcie4 could be either PCIe preset: a Scenario refuses it with both names (a
    measurements file resolves it by the rules above, with the GPU and the notes)."""
    with pytest.raises(ValueError, match="closest: .*pcie4_bad.*pcie4_good|closest: .*pcie4_good.*pcie4_bad"):
        get_interconnect("pcie4")
