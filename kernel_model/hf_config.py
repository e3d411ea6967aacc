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
import os
import warnings

from .models import ModelSpec, MODELS, MODEL_ALIASES, register_model

SUPPORTED = ("llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "phi3", "gpt2", "gpt_neox",
             "opt", "deepseek_v2", "deepseek_v3")


def read_mapping(path_or_dict, label, parse, hint=""):
    """``(data, path)`` from a dict (path None) or from a file whose top level is a mapping.

    ``label`` names the file in messages ("config file"); ``parse(f)`` reads the open file
    and raises ValueError saying what is wrong ("is not valid JSON: ..."); ``hint`` follows
    the does-not-exist message."""
    if isinstance(path_or_dict, dict):
        return path_or_dict, None
    path = os.fspath(path_or_dict)
    if not os.path.exists(path):
        raise ValueError(f"{label} {path!r} does not exist{hint}")
    with open(path, encoding="utf-8") as f:
        try:
            data = parse(f)
        except ValueError as e:
            raise ValueError(f"{label} {path!r} {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{label} {path!r} must hold a mapping at the top level, not "
                         f"{type(data).__name__}")
    return data, path


def _parse_json(f):
    try:
        return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"is not valid JSON: line {e.lineno}: {e.msg}") from None


def _load(path_or_dict):
    if not isinstance(path_or_dict, dict) and os.path.isdir(path_or_dict):
        path_or_dict = os.path.join(path_or_dict, "config.json")
    return read_mapping(path_or_dict, "config file", _parse_json,
                        " (give a config.json path, its folder, or a dict)")


def _default_name(cfg, path, mt):
    raw = cfg.get("_name_or_path") or ""
    if not raw and path:
        raw = os.path.basename(os.path.dirname(os.path.abspath(path)))
    name = (os.path.basename(str(raw).rstrip("/")) or mt).lower()
    if name in MODELS or name in MODEL_ALIASES:
        name = name + "-hf"           # never shadowed by (or shadowing) a built-in preset
    return name


class _Cfg:
    """Reads keys of one config, naming the key and model_type when one is missing."""

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

    def int(self, key, v):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or int(v) != v or v < 0:
            raise ValueError(f"{self.where}: key {key!r}={v!r} must be a whole number >= 0")
        return int(v)


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
        notes.append("quantization_config (set weight_bits in the Scenario instead)")
    if cfg.get("num_nextn_predict_layers"):
        notes.append(f"num_nextn_predict_layers={cfg['num_nextn_predict_layers']} "
                     f"(multi-token-prediction layers are not simulated)")
    wp = cfg.get("word_embed_proj_dim")
    if wp and wp != cfg.get("hidden_size"):
        notes.append(f"word_embed_proj_dim={wp} (embedding projections are not modelled)")
    if notes:
        warnings.warn(f"{name}: ignored " + "; ".join(notes), UserWarning, stacklevel=3)


def model_from_hf_config(path_or_dict, name: str | None = None, register: bool = True) -> ModelSpec:
    """Build (and by default register) a :class:`ModelSpec` from a HF ``config.json``.

    ``name`` defaults to the repository name in ``_name_or_path`` or the config's folder,
    lower-cased (with ``-hf`` appended when that would clash with a built-in preset).
    Raises ``ValueError`` for an unknown ``model_type`` (listing the supported ones) and for
    a missing key (naming it).
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
    c = _Cfg(cfg, mt, where)
    name = name or _default_name(cfg, path, mt)
    src = path or "config dict"
    if mt == "gpt2":
        h = c.req("n_embd")
        kw = dict(layers=c.req("n_layer"), hidden=h, heads=c.req("n_head"),
                  ffn=c.opt("n_inner", 4 * h), vocab=c.req("vocab_size"), gated_mlp=False,
                  tie_embeddings=bool(c.opt("tie_word_embeddings", True)))
        kw["kv_heads"] = kw["heads"]
    elif mt in ("gpt_neox", "opt"):
        kw = dict(layers=c.req("num_hidden_layers"), hidden=c.req("hidden_size"),
                  heads=c.req("num_attention_heads"),
                  ffn=c.req("intermediate_size" if mt == "gpt_neox" else "ffn_dim"),
                  vocab=c.req("vocab_size"), gated_mlp=False,
                  tie_embeddings=bool(c.opt("tie_word_embeddings", mt == "opt")))
        kw["kv_heads"] = kw["heads"]
    else:
        heads = c.req("num_attention_heads")
        kw = dict(layers=c.req("num_hidden_layers"), hidden=c.req("hidden_size"), heads=heads,
                  kv_heads=c.opt("num_key_value_heads", heads), ffn=c.req("intermediate_size"),
                  vocab=c.req("vocab_size"), head_dim=c.opt("head_dim", 0), gated_mlp=True,
                  tie_embeddings=bool(c.opt("tie_word_embeddings", False)))
        if mt == "mixtral":
            kw.update(experts=c.req("num_local_experts"), top_k=c.req("num_experts_per_tok"),
                      expert_ffn=kw["ffn"])
        elif mt == "qwen2_moe":
            layers = kw["layers"]
            step = c.opt("decoder_sparse_step", 1) or 1
            dense_only = set(cfg.get("mlp_only_layers") or [])
            n_sparse = sum(1 for i in range(layers) if (i + 1) % step == 0 and i not in dense_only)
            shared = c.opt("shared_expert_intermediate_size", 0)
            kw.update(experts=c.req("num_experts"), top_k=c.req("num_experts_per_tok"),
                      expert_ffn=c.req("moe_intermediate_size"),
                      shared_experts=1 if shared else 0, shared_ffn=shared,
                      dense_layers=layers - n_sparse)
        elif mt in ("deepseek_v2", "deepseek_v3"):
            layers = kw["layers"]
            first = c.opt("first_k_dense_replace", 0)
            freq = c.opt("moe_layer_freq", 1) or 1
            n_sparse = sum(1 for i in range(layers) if i >= first and i % freq == 0)
            kw.update(experts=c.req("n_routed_experts"), top_k=c.req("num_experts_per_tok"),
                      expert_ffn=c.req("moe_intermediate_size"),
                      shared_experts=c.opt("n_shared_experts", 0),
                      dense_layers=layers - n_sparse,
                      q_lora_rank=c.opt("q_lora_rank", 0), kv_lora_rank=c.req("kv_lora_rank"),
                      qk_rope_dim=c.req("qk_rope_head_dim"), qk_nope_dim=c.req("qk_nope_head_dim"),
                      v_head_dim=c.req("v_head_dim"), head_dim=0)
            kw["kv_heads"] = heads
    if kw["heads"] < 1 or kw["hidden"] < 1 or kw["layers"] < 1:
        raise ValueError(f"{where}: layers, hidden size and heads must be >= 1")
    if kw.get("kv_heads", 1) < 1 or kw["heads"] % kw["kv_heads"]:
        raise ValueError(f"{where}: num_key_value_heads={kw.get('kv_heads')} must divide "
                         f"num_attention_heads={kw['heads']}")
    spec = ModelSpec(name=name, source=f"{src} (model_type {mt})", **kw)
    _ignored(c, name)
    if register:
        register_model(spec)
    return spec
