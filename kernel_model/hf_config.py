"""``model_from_hf_config(path_or_dict) -> ModelSpec`` from a local Hugging Face config.json.

No network: give the path of a ``config.json`` (or of the folder holding it) or the parsed
dict. The spec is registered with :func:`kernel_model.register_model`, so
``Scenario(model=spec.name)`` works afterwards.

Families (``model_type``): llama, mistral, mixtral, qwen2, qwen2_moe, phi3 (gated SwiGLU
MLP, GQA/MQA through ``num_key_value_heads``), gpt2, gpt_neox, opt (GELU/ReLU MLP, MHA),
deepseek_v2 / deepseek_v3 (multi-head latent attention, shared + routed experts, leading
dense layers). Fields the engine does not model (sliding windows, RoPE scaling, partial
rotary, quantisation configs, multi-token-prediction layers) are reported with a
``UserWarning`` and otherwise ignored.
"""
from __future__ import annotations

import json
import math
import os
import warnings

from .models import ModelSpec, LIMITS, register_model, check_spec, is_preset_name, _USER_MODELS
from ._files import read_text_file, MAX_CONFIG_BYTES

SUPPORTED = ("llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "phi3", "gpt2", "gpt_neox",
             "opt", "deepseek_v2", "deepseek_v3")

# config.json key -> ModelSpec field whose bounds (models.LIMITS) it must respect
KEY_FIELD = {
    "n_layer": "layers", "num_hidden_layers": "layers", "n_embd": "hidden",
    "hidden_size": "hidden", "n_head": "heads", "num_attention_heads": "heads",
    "num_key_value_heads": "kv_heads", "n_inner": "ffn", "intermediate_size": "ffn",
    "ffn_dim": "ffn", "vocab_size": "vocab", "head_dim": "head_dim",
    "num_local_experts": "experts", "num_experts": "experts", "n_routed_experts": "experts",
    "num_experts_per_tok": "top_k", "moe_intermediate_size": "expert_ffn",
    "shared_expert_intermediate_size": "shared_ffn", "n_shared_experts": "shared_experts",
    "q_lora_rank": "q_lora_rank", "kv_lora_rank": "kv_lora_rank",
    "qk_rope_head_dim": "qk_rope_dim", "qk_nope_head_dim": "qk_nope_dim",
    "v_head_dim": "v_head_dim", "first_k_dense_replace": "dense_layers",
    "decoder_sparse_step": "layers", "moe_layer_freq": "layers",
}
# keys that may be 0 (absent features); every other size must be >= 1
ZERO_OK = ("head_dim", "shared_expert_intermediate_size", "n_shared_experts", "q_lora_rank",
           "first_k_dense_replace", "decoder_sparse_step", "moe_layer_freq", "n_inner")


def read_mapping(path_or_dict, label, parse, hint=""):
    """``(data, path)`` from a dict (path None) or from a file whose top level is a mapping.

    ``label`` names the file in messages ("config file"); the file is read only if it is a
    regular file of at most ``MAX_CONFIG_BYTES`` (``kernel_model._files``); ``parse(text)``
    raises ValueError saying what is wrong ("is not valid JSON: ..."); ``hint`` follows
    the does-not-exist message."""
    if isinstance(path_or_dict, dict):
        return path_or_dict, None
    path = os.fspath(path_or_dict)
    if not os.path.lexists(path):
        raise ValueError(f"{label} {path!r} does not exist{hint}")
    text = read_text_file(path, MAX_CONFIG_BYTES, label)
    try:
        data = parse(text)
    except ValueError as e:
        raise ValueError(f"{label} {path!r} {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{label} {path!r} must hold a mapping at the top level, not "
                         f"{type(data).__name__}")
    return data, path


def _parse_json(text):
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"is not valid JSON: line {e.lineno}: {e.msg}") from None
    except RecursionError:
        raise ValueError("is nested too deeply to be a config") from None


def _load(path_or_dict):
    if not isinstance(path_or_dict, dict) and os.path.isdir(path_or_dict):
        path_or_dict = os.path.join(path_or_dict, "config.json")
    return read_mapping(path_or_dict, "config file", _parse_json,
                        " (give a config.json path, its folder, or a dict)")


def _default_name(cfg, path, mt, spec_of):
    """The repository name in ``_name_or_path``, else the file's stem (its folder's name for
    a ``config.json``), lower-cased; ``-hf`` when that is a built-in preset, then ``-2``,
    ``-3``, ... while another model of that name is registered (``spec_of(name)`` is
    the spec this config gives under ``name``)."""
    raw = str(cfg.get("_name_or_path") or "")
    if not raw and path:
        stem, _ = os.path.splitext(os.path.basename(path))
        raw = (os.path.basename(os.path.dirname(os.path.abspath(path)))
               if stem.lower() == "config" else stem)
    name = (os.path.basename(raw.rstrip("/")) or mt).lower()
    if is_preset_name(name):
        name = name + "-hf"           # never shadowed by (or shadowing) a built-in preset
    base, n = name, 1
    while name in _USER_MODELS and _USER_MODELS[name] != spec_of(name):
        n += 1
        name = f"{base}-{n}"
    return name


class _Cfg:
    """Reads keys of one config, naming the key, its value and what is allowed."""

    def __init__(self, cfg, mt, where):
        self.cfg, self.mt, self.where = cfg, mt, where

    def req(self, key):
        v = self.cfg.get(key)
        if v is None:
            raise ValueError(f"{self.where}: model_type {self.mt!r} needs key {key!r}, which is "
                             f"missing")
        return self.int(key, v)

    def opt(self, key, default):
        v = self.cfg.get(key)
        return default if v is None else (self.int(key, v) if isinstance(default, int)
                                          and not isinstance(default, bool) else v)

    def flag(self, key, default):
        v = self.cfg.get(key)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise ValueError(f"{self.where}: key {key!r}={v!r} is not allowed: must be true or "
                             f"false")
        return v

    def int(self, key, v):
        lo = 0 if key in ZERO_OK else 1
        hi = LIMITS[KEY_FIELD[key]][1] if key in KEY_FIELD else LIMITS["layers"][1]
        if (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                or v != int(v) or not lo <= v <= hi):
            raise ValueError(f"{self.where}: key {key!r}={v!r} is not allowed: must be a whole "
                             f"number in [{lo}, {hi}]")
        return int(v)

    def layer_list(self, key, layers):
        """A list of layer indices in [0, layers) (``mlp_only_layers``), as a set."""
        v = self.cfg.get(key)
        if v is None:
            return set()
        if not isinstance(v, list) or len(v) > layers:
            raise ValueError(f"{self.where}: key {key!r}={v!r} is not allowed: must be a list "
                             f"of layer indices in [0, {layers - 1}]")
        for x in v:
            if isinstance(x, bool) or not isinstance(x, int) or not 0 <= x < layers:
                raise ValueError(f"{self.where}: key {key!r} holds {x!r}: must be a list of "
                                 f"layer indices in [0, {layers - 1}]")
        return set(v)


def _sparse_every(layers, step, dense_only):
    """Layers i in [0, layers) with (i + 1) % step == 0 and not in ``dense_only``."""
    return layers // step - sum(1 for i in dense_only if (i + 1) % step == 0)


def _sparse_from(layers, first, freq):
    """Layers i in [first, layers) with i % freq == 0."""
    lo = -(-first // freq) * freq
    return 0 if lo >= layers else (layers - 1 - lo) // freq + 1


# quantization_config -> kernel_model.formats name, first match wins: (quant_method, what
# else must hold, format). Sources: the checkpoints' own config.json (DeepSeek-V3 "fp8" with
# e4m3 blocks; gpt-oss "mxfp4"; AutoAWQ "awq"; AutoGPTQ "gptq" with "bits"; NVIDIA ModelOpt
# "modelopt" with "quant_algo" FP8 / NVFP4; llm-compressor "compressed-tensors" with a
# "format" of float-quantized (FP8) or nvfp4-pack-quantized; bitsandbytes 8-bit).
_QUANT_RULES = (
    ("fp8", None, "fp8"), ("fbgemm_fp8", None, "fp8"), ("mxfp4", None, "mxfp4"),
    ("awq", None, "int4-awq"), ("gptq", ("bits", 8), "int8"), ("gptq", None, "gptq"),
    ("modelopt", ("quant_algo", "NVFP4"), "nvfp4"), ("modelopt", ("quant_algo", "FP8"), "fp8"),
    ("compressed-tensors", ("format", "nvfp4-pack-quantized"), "nvfp4"),
    ("compressed-tensors", ("format", "float-quantized"), "fp8"),
    ("bitsandbytes", ("load_in_8bit", True), "int8"),
)


def quantization_format(cfg: dict) -> str | None:
    """The weight format (``kernel_model.formats``) a config.json's ``quantization_config``
    names, or None (no such config, or a scheme with no format here: bitsandbytes NF4, ...)."""
    q = cfg.get("quantization_config") if isinstance(cfg, dict) else None
    if not isinstance(q, dict):
        return None
    method = str(q.get("quant_method", "")).lower()
    for m, cond, fmt in _QUANT_RULES:
        if m == method and (cond is None or q.get(cond[0]) == cond[1]):
            return fmt
    return None


def config_format(path) -> str | None:
    """:func:`quantization_format` of the config.json at ``path`` (a file, or a folder holding
    one); None where it cannot be read."""
    import json
    import os
    p = os.path.join(path, "config.json") if os.path.isdir(str(path)) else str(path)
    try:
        with open(p, encoding="utf-8") as f:
            return quantization_format(json.load(f))
    except (OSError, ValueError):
        return None


def _ignored(c: _Cfg, name):
    notes = []
    cfg = c.cfg
    if cfg.get("sliding_window") and cfg.get("use_sliding_window", True) and c.mt != "mixtral":
        notes.append(f"sliding_window={cfg['sliding_window']} (attention is modelled over the "
                     f"full context)")
    if cfg.get("rope_scaling"):
        notes.append("rope_scaling (no effect on time or memory)")
    if cfg.get("rotary_pct") not in (None, 1, 1.0):
        notes.append(f"rotary_pct={cfg['rotary_pct']} (RoPE cost is modelled on all head dims)")
    if cfg.get("quantization_config"):
        fmt = quantization_format(cfg)
        notes.append(f"quantization_config (it names {fmt}: pass Scenario(weight_format={fmt!r}); "
                     f"nexora --model uses it)" if fmt else
                     "quantization_config (no format of kernel_model.formats: set weight_format "
                     "or weight_bits in the Scenario)")
    if cfg.get("num_nextn_predict_layers"):
        notes.append(f"num_nextn_predict_layers={cfg['num_nextn_predict_layers']} "
                     f"(multi-token-prediction layers are not simulated)")
    wp = cfg.get("word_embed_proj_dim")
    if wp and wp != cfg.get("hidden_size"):
        notes.append(f"word_embed_proj_dim={wp} (embedding projections are not modelled)")
    if notes:
        warnings.warn(f"{name}: ignored " + "; ".join(notes), UserWarning, stacklevel=3)


def model_from_hf_config(path_or_dict, name: str | None = None, register: bool = True,
                         replace: bool = False) -> ModelSpec:
    """Build (and by default register) a :class:`ModelSpec` from a HF ``config.json``.

    ``name`` defaults to the repository name in ``_name_or_path``, else the file's name
    (its folder's for a ``config.json``), lower-cased, with ``-hf`` appended when that is a
    built-in preset and ``-2``, ``-3``, ... when another model of that name is registered
    (loading the same config again reuses its name). An explicit ``name`` that is a
    built-in preset is refused unless ``replace=True`` (which shadows the preset).
    Raises ``ValueError`` for an unknown ``model_type`` (listing the supported ones), a
    missing key (naming it), and a value out of range (naming the key, the value and the
    allowed range: sizes are bounded by ``kernel_model.models.LIMITS``).
    """
    cfg, path = _load(path_or_dict)
    where = f"config {path!r}" if path else "config"
    mt = cfg.get("model_type")
    if mt is None:
        raise ValueError(f"{where}: key 'model_type' is missing (supported: {', '.join(SUPPORTED)})")
    mt = str(mt)
    if mt not in SUPPORTED:
        raise ValueError(f"{where}: model_type {mt!r} is not supported (supported: "
                         f"{', '.join(SUPPORTED)})")
    if name is not None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"name={name!r} is not allowed: must be a non-empty string")
        if register and is_preset_name(name) and not replace:
            raise ValueError(f"name {name!r} is a built-in model preset; pass another name= "
                             f"or replace=True to shadow it")
    c = _Cfg(cfg, mt, where)
    kw = _shape(c, mt)
    src = path or "config dict"
    source = f"{src} (model_type {mt})"

    def spec_of(n):
        return ModelSpec(name=n, source=source, **kw)
    name = name or _default_name(cfg, path, mt, spec_of)
    spec = spec_of(name)
    check_spec(spec, where)
    _ignored(c, name)
    if register:
        register_model(spec, replace=replace)
    return spec


def _shape(c: _Cfg, mt: str) -> dict:
    """ModelSpec keyword arguments of one config (sizes checked against their bounds)."""
    if mt == "gpt2":
        h = c.req("n_embd")
        kw = dict(layers=c.req("n_layer"), hidden=h, heads=c.req("n_head"),
                  ffn=c.opt("n_inner", 0) or 4 * h, vocab=c.req("vocab_size"), gated_mlp=False,
                  tie_embeddings=c.flag("tie_word_embeddings", True))
        kw["kv_heads"] = kw["heads"]
    elif mt in ("gpt_neox", "opt"):
        kw = dict(layers=c.req("num_hidden_layers"), hidden=c.req("hidden_size"),
                  heads=c.req("num_attention_heads"),
                  ffn=c.req("intermediate_size" if mt == "gpt_neox" else "ffn_dim"),
                  vocab=c.req("vocab_size"), gated_mlp=False,
                  tie_embeddings=c.flag("tie_word_embeddings", mt == "opt"))
        kw["kv_heads"] = kw["heads"]
    else:
        heads = c.req("num_attention_heads")
        kw = dict(layers=c.req("num_hidden_layers"), hidden=c.req("hidden_size"), heads=heads,
                  kv_heads=c.opt("num_key_value_heads", heads), ffn=c.req("intermediate_size"),
                  vocab=c.req("vocab_size"), head_dim=c.opt("head_dim", 0), gated_mlp=True,
                  tie_embeddings=c.flag("tie_word_embeddings", False))
        if mt == "mixtral":
            kw.update(experts=c.req("num_local_experts"), top_k=c.req("num_experts_per_tok"),
                      expert_ffn=kw["ffn"])
        elif mt == "qwen2_moe":
            layers = kw["layers"]
            step = c.opt("decoder_sparse_step", 1) or 1
            n_sparse = _sparse_every(layers, step, c.layer_list("mlp_only_layers", layers))
            shared = c.opt("shared_expert_intermediate_size", 0)
            kw.update(experts=c.req("num_experts"), top_k=c.req("num_experts_per_tok"),
                      expert_ffn=c.req("moe_intermediate_size"),
                      shared_experts=1 if shared else 0, shared_ffn=shared,
                      dense_layers=layers - n_sparse)
        elif mt in ("deepseek_v2", "deepseek_v3"):
            layers = kw["layers"]
            first = c.opt("first_k_dense_replace", 0)
            freq = c.opt("moe_layer_freq", 1) or 1
            kw.update(experts=c.req("n_routed_experts"), top_k=c.req("num_experts_per_tok"),
                      expert_ffn=c.req("moe_intermediate_size"),
                      shared_experts=c.opt("n_shared_experts", 0),
                      dense_layers=layers - _sparse_from(layers, first, freq),
                      q_lora_rank=c.opt("q_lora_rank", 0), kv_lora_rank=c.req("kv_lora_rank"),
                      qk_rope_dim=c.req("qk_rope_head_dim"), qk_nope_dim=c.req("qk_nope_head_dim"),
                      v_head_dim=c.req("v_head_dim"), head_dim=0)
            kw["kv_heads"] = heads
    _relations(c, kw)
    return kw


def _relations(c: _Cfg, kw: dict) -> None:
    """Checks between keys, named as the config names them."""
    w = c.where
    hk = "n_head" if c.mt == "gpt2" else "num_attention_heads"
    hid = "n_embd" if c.mt == "gpt2" else "hidden_size"
    if not kw.get("head_dim") and not kw.get("kv_lora_rank") and kw["heads"] > kw["hidden"]:
        raise ValueError(f"{w}: {hk}={kw['heads']} is not allowed: more heads than "
                         f"{hid}={kw['hidden']} (allowed: at most {hid})")
    if not kw.get("kv_lora_rank") and (kw["kv_heads"] > kw["heads"] or kw["heads"] % kw["kv_heads"]):
        raise ValueError(f"{w}: num_key_value_heads={kw['kv_heads']} must divide "
                         f"num_attention_heads={kw['heads']}")
    if kw.get("experts", 1) > 1 and kw.get("dense_layers", 0) >= kw["layers"]:
        raise ValueError(f"{w}: no layer of the {kw['layers']} has experts (see "
                         f"mlp_only_layers / decoder_sparse_step / first_k_dense_replace / "
                         f"moe_layer_freq); an MoE config needs at least one")
    if kw.get("experts", 1) > 1 and kw["top_k"] > kw["experts"]:
        raise ValueError(f"{w}: num_experts_per_tok={kw['top_k']} is not allowed: more than the "
                         f"{kw['experts']} experts (allowed: 1..{kw['experts']})")
