"""Transformer shapes: presets from published ``config.json`` files and papers.

A :class:`ModelSpec` holds the architecture; :meth:`ModelSpec.shape` reduces it to the
numbers the engine needs (parameter counts per layer, KV-cache elements per token, FLOPs
per attended token), so dense, GQA, MoE and MLA models all go through one code path.
"""
from __future__ import annotations

import re

from dataclasses import dataclass, asdict, replace, fields

from .hardware import unknown

HF = "https://huggingface.co/{}/blob/main/config.json"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    ffn: int                      # intermediate size of a dense MLP
    vocab: int
    head_dim: int = 0             # 0: hidden // heads
    gated_mlp: bool = True        # SwiGLU (3 matrices) vs GELU/ReLU MLP (2 matrices)
    experts: int = 1              # routed experts per MoE layer (1 = dense model)
    top_k: int = 1                # experts each token is routed to
    expert_ffn: int = 0           # intermediate size of one routed expert (0: ffn)
    shared_experts: int = 0       # always-active experts per MoE layer (DeepSeek, Qwen-MoE)
    shared_ffn: int = 0           # intermediate size of one shared expert (0: expert_ffn)
    dense_layers: int = 0         # leading layers with a dense MLP in an MoE model
    tie_embeddings: bool = False
    # Multi-head latent attention (DeepSeek-V2/V3); kv_lora_rank > 0 switches it on.
    q_lora_rank: int = 0
    kv_lora_rank: int = 0
    qk_rope_dim: int = 0
    qk_nope_dim: int = 0
    v_head_dim: int = 0
    # Sliding-window attention on some layers (gpt-oss: every other layer, 128 tokens). The
    # engine prices one average layer, so those layers are counted as holding no KV cache and
    # attending nothing: exact for the KV bytes when context >> window (at a 1000-token
    # context the 128-token window is 13 % of a full layer's cache).
    sliding_window: int = 0
    sliding_layers: int = 0
    source: str = ""
    notes: str = ""               # what the engine approximates of this architecture

    # ---- derived architecture facts -------------------------------------------------
    @property
    def d_head(self) -> int:
        return self.head_dim or self.hidden // self.heads

    @property
    def attention(self) -> str:
        if self.kv_lora_rank:
            return "mla"
        if self.kv_heads == self.heads:
            return "mha"
        return "mqa" if self.kv_heads == 1 else "gqa"

    @property
    def is_moe(self) -> bool:
        return self.experts > 1

    def shape(self) -> dict:
        """Per-layer numbers for the engine (totals over all GPUs, per token)."""
        h, nh = self.hidden, self.heads
        mats = 3 if self.gated_mlp else 2
        if self.kv_lora_rank:
            qd = self.qk_nope_dim + self.qk_rope_dim
            w_q = (h * self.q_lora_rank + self.q_lora_rank * nh * qd) if self.q_lora_rank else h * nh * qd
            w_kv = h * (self.kv_lora_rank + self.qk_rope_dim) + self.kv_lora_rank * nh * (self.qk_nope_dim + self.v_head_dim)
            w_o = nh * self.v_head_dim * h
            kv_elems = self.kv_lora_rank + self.qk_rope_dim       # latent cache, replicated over TP
            kv_groups = 1
            attn_flops = 2 * nh * (self.kv_lora_rank + self.qk_rope_dim) + 2 * nh * self.kv_lora_rank
            attn_out = nh * self.v_head_dim
            qkv_out = nh * qd + self.kv_lora_rank + self.qk_rope_dim
        else:
            d = self.d_head
            w_q, w_kv, w_o = h * nh * d, 2 * h * self.kv_heads * d, nh * d * h
            kv_elems = 2 * self.kv_heads * d
            kv_groups = self.kv_heads
            attn_flops = 4 * nh * d
            attn_out = nh * d
            qkv_out = (nh + 2 * self.kv_heads) * d
        if self.sliding_window and self.sliding_layers:
            full = 1.0 - min(self.sliding_layers, self.layers - 1) / self.layers
            kv_elems, attn_flops = kv_elems * full, attn_flops * full
        moe_frac = (self.layers - self.dense_layers) / self.layers if self.is_moe else 0.0
        e_ffn = self.expert_ffn or self.ffn
        s_ffn = (self.shared_ffn or e_ffn) * self.shared_experts
        return dict(
            layers=self.layers, hidden=h, heads=nh, vocab=self.vocab,
            w_qkv=w_q + w_kv, w_o=w_o, qkv_out=qkv_out, attn_out=attn_out,
            kv_elems=kv_elems, kv_groups=kv_groups, attn_flops=attn_flops,
            mlp_mats=mats, ffn=self.ffn, experts=self.experts, top_k=self.top_k,
            expert_ffn=e_ffn, shared_ffn=s_ffn, moe_frac=moe_frac,
            embed_params=2 * self.vocab * h if not self.tie_embeddings else self.vocab * h,
        )

    # ---- parameter counts -------------------------------------------------------------
    def layer_params(self, active: bool = False) -> float:
        s = self.shape()
        attn = s["w_qkv"] + s["w_o"]
        dense_mlp = s["mlp_mats"] * self.hidden * self.ffn
        n_exp = self.top_k if active else self.experts
        moe_mlp = s["mlp_mats"] * self.hidden * (n_exp * s["expert_ffn"] + s["shared_ffn"]) + self.hidden * self.experts
        mlp = (1 - s["moe_frac"]) * dense_mlp + s["moe_frac"] * moe_mlp
        return attn + mlp + 2 * self.hidden

    @property
    def total_params(self) -> float:
        return self.layers * self.layer_params() + self.shape()["embed_params"]

    @property
    def active_params(self) -> float:
        return self.layers * self.layer_params(active=True) + self.shape()["embed_params"]

    def with_overrides(self, layers=None, experts=None, top_k=None) -> "ModelSpec":
        kw = {}
        if layers is not None:
            kw["layers"] = int(layers)
            kw["dense_layers"] = min(self.dense_layers, int(layers) - 1) if self.dense_layers else 0
        if experts is not None:
            kw["experts"] = int(experts)
            if experts > 1 and not self.is_moe:
                kw["expert_ffn"] = self.ffn
            if top_k is None and experts > 1 and self.top_k < 2 and not self.is_moe:
                kw["top_k"] = min(2, int(experts))
        if top_k is not None:
            kw["top_k"] = int(top_k)
        return replace(self, **kw) if kw else self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelSpec":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def _llama(name, repo, layers, hidden, heads, kv, ffn, vocab, **kw):
    return ModelSpec(name, layers, hidden, heads, kv, ffn, vocab, source=HF.format(repo), **kw)


def _gpt(name, layers, hidden, heads, ffn, vocab, src):
    return ModelSpec(name, layers, hidden, heads, heads, ffn, vocab, gated_mlp=False,
                     tie_embeddings=True, source=src)


_PAPER = "shared/REFERENCE.md (GPT-3 / Megatron papers)"
_PARALLEL = ("parallel attention and MLP, priced as sequential: an all-reduce after each, where "
             "a stack may sum them before one")

MODELS: dict[str, ModelSpec] = {m.name: m for m in [
    _llama("llama-2-7b", "meta-llama/Llama-2-7b-hf", 32, 4096, 32, 32, 11008, 32000),
    _llama("llama-2-13b", "meta-llama/Llama-2-13b-hf", 40, 5120, 40, 40, 13824, 32000),
    _llama("llama-2-70b", "meta-llama/Llama-2-70b-hf", 80, 8192, 64, 8, 28672, 32000),
    _llama("llama-3-8b", "meta-llama/Meta-Llama-3-8B", 32, 4096, 32, 8, 14336, 128256),
    _llama("llama-3-70b", "meta-llama/Meta-Llama-3-70B", 80, 8192, 64, 8, 28672, 128256),
    _llama("llama-3.1-8b", "meta-llama/Llama-3.1-8B", 32, 4096, 32, 8, 14336, 128256),
    _llama("llama-3.1-70b", "meta-llama/Llama-3.1-70B", 80, 8192, 64, 8, 28672, 128256),
    _llama("llama-3.3-70b", "meta-llama/Llama-3.3-70B-Instruct", 80, 8192, 64, 8, 28672, 128256),
    _llama("codellama-34b", "codellama/CodeLlama-34b-hf", 48, 8192, 64, 8, 22016, 32000),
    _llama("mixtral-8x7b", "mistralai/Mixtral-8x7B-v0.1", 32, 4096, 32, 8, 14336, 32000,
           experts=8, top_k=2),
    _llama("mixtral-8x22b", "mistralai/Mixtral-8x22B-v0.1", 56, 6144, 48, 8, 16384, 32768,
           experts=8, top_k=2),
    # DBRX: d_model 6144, 48 heads / 8 KV heads, ffn_hidden_size 10752, 16 experts top-4
    _llama("dbrx", "databricks/dbrx-base", 40, 6144, 48, 8, 10752, 100352, experts=16, top_k=4),
    _llama("qwen2.5-7b", "Qwen/Qwen2.5-7B", 28, 3584, 28, 4, 18944, 152064),
    _llama("qwen2.5-72b", "Qwen/Qwen2.5-72B", 80, 8192, 64, 8, 29568, 152064),
    ModelSpec("opt-13b", 40, 5120, 40, 40, 20480, 50272, gated_mlp=False, tie_embeddings=True,
              source=HF.format("facebook/opt-13b")),
    ModelSpec("opt-30b", 48, 7168, 56, 56, 28672, 50272, gated_mlp=False, tie_embeddings=True,
              source=HF.format("facebook/opt-30b")),
    ModelSpec("opt-66b", 64, 9216, 72, 72, 36864, 50272, gated_mlp=False, tie_embeddings=True,
              source=HF.format("facebook/opt-66b")),
    # more published config.json shapes (dense)
    _llama("llama-3.1-405b", "meta-llama/Llama-3.1-405B", 126, 16384, 128, 8, 53248, 128256),
    _llama("llama-3.2-1b", "meta-llama/Llama-3.2-1B", 16, 2048, 32, 8, 8192, 128256,
           head_dim=64, tie_embeddings=True),
    _llama("llama-3.2-3b", "meta-llama/Llama-3.2-3B", 28, 3072, 24, 8, 8192, 128256,
           head_dim=128, tie_embeddings=True),
    _llama("codellama-7b", "codellama/CodeLlama-7b-hf", 32, 4096, 32, 32, 11008, 32016),
    _llama("codellama-13b", "codellama/CodeLlama-13b-hf", 40, 5120, 40, 40, 13824, 32016),
    _llama("codellama-70b", "codellama/CodeLlama-70b-hf", 80, 8192, 64, 8, 28672, 32016),
    _llama("mistral-7b", "mistralai/Mistral-7B-v0.1", 32, 4096, 32, 8, 14336, 32000),
    _llama("qwen2.5-0.5b", "Qwen/Qwen2.5-0.5B", 24, 896, 14, 2, 4864, 151936, tie_embeddings=True),
    _llama("qwen2.5-1.5b", "Qwen/Qwen2.5-1.5B", 28, 1536, 12, 2, 8960, 151936, tie_embeddings=True),
    _llama("qwen2.5-3b", "Qwen/Qwen2.5-3B", 36, 2048, 16, 2, 11008, 151936, tie_embeddings=True),
    _llama("qwen2.5-14b", "Qwen/Qwen2.5-14B", 48, 5120, 40, 8, 13824, 152064),
    _llama("qwen2.5-32b", "Qwen/Qwen2.5-32B", 64, 5120, 40, 8, 27648, 152064),
    _llama("phi-3-mini", "microsoft/Phi-3-mini-4k-instruct", 32, 3072, 32, 32, 8192, 32064),
    _llama("qwen2-7b", "Qwen/Qwen2-7B", 28, 3584, 28, 4, 18944, 152064),
    _llama("qwen2-72b", "Qwen/Qwen2-72B", 80, 8192, 64, 8, 29568, 152064),
    _llama("qwen3-8b", "Qwen/Qwen3-8B", 36, 4096, 32, 8, 12288, 151936, head_dim=128),
    _llama("qwen3-32b", "Qwen/Qwen3-32B", 64, 5120, 64, 8, 25600, 151936, head_dim=128),
    _llama("mistral-nemo-12b", "mistralai/Mistral-Nemo-Base-2407", 40, 5120, 32, 8, 14336,
           131072, head_dim=128),
    _llama("mistral-small-24b", "mistralai/Mistral-Small-24B-Base-2501", 40, 5120, 32, 8, 32768,
           131072, head_dim=128),
    _llama("mistral-large-123b", "mistralai/Mistral-Large-Instruct-2407", 88, 12288, 96, 8,
           28672, 32768),
    _llama("phi-4", "microsoft/phi-4", 40, 5120, 40, 10, 17920, 100352),
    ModelSpec("opt-1.3b", 24, 2048, 32, 32, 8192, 50272, gated_mlp=False, tie_embeddings=True,
              source=HF.format("facebook/opt-1.3b")),
    ModelSpec("opt-6.7b", 32, 4096, 32, 32, 16384, 50272, gated_mlp=False, tie_embeddings=True,
              source=HF.format("facebook/opt-6.7b")),
    ModelSpec("opt-175b", 96, 12288, 96, 96, 49152, 50272, gated_mlp=False, tie_embeddings=True,
              source="OPT paper (Zhang et al. 2022), Table 1; vocabulary of the OPT tokenizer"),
    # parallel attention + MLP (Falcon's new decoder, GPT-J): the same weights and FLOPs
    ModelSpec("falcon-180b", 80, 14848, 232, 8, 59392, 65024, gated_mlp=False, notes=_PARALLEL,
              source=HF.format("tiiuae/falcon-180B") + "; TensorRT-LLM perf-overview.md (v0.10) "
              "ckpt_config.json: 80 layers, 232 heads, 8 KV heads, hidden 14848, gelu MLP of "
              "4 x hidden, share_embedding_table false"),
    ModelSpec("gpt-j-6b", 28, 4096, 16, 16, 16384, 50400, gated_mlp=False,
              notes=_PARALLEL + "; rotary on 64 of 256 head dims, priced on all",
              source=HF.format("EleutherAI/gpt-j-6b") + " (n_inner null: 4 x n_embd); "
              "TensorRT-LLM perf-overview.md (v0.10): 28 layers, 16 heads, vocab 50400"),
    # mixture of experts
    _llama("qwen1.5-moe-a2.7b", "Qwen/Qwen1.5-MoE-A2.7B", 24, 2048, 16, 16, 5632, 151936,
           experts=60, top_k=4, expert_ffn=1408, shared_experts=1, shared_ffn=5632),
    _llama("qwen2-57b-a14b", "Qwen/Qwen2-57B-A14B", 28, 3584, 28, 4, 18944, 151936,
           experts=64, top_k=8, expert_ffn=2560, shared_experts=1, shared_ffn=20480),
    _llama("qwen3-30b-a3b", "Qwen/Qwen3-30B-A3B", 48, 2048, 32, 4, 6144, 151936, head_dim=128,
           experts=128, top_k=8, expert_ffn=768),
    _llama("qwen3-235b-a22b", "Qwen/Qwen3-235B-A22B", 94, 4096, 64, 4, 12288, 151936,
           head_dim=128, experts=128, top_k=8, expert_ffn=1536),
    _llama("deepseek-v2", "deepseek-ai/DeepSeek-V2", 60, 5120, 128, 128, 12288, 102400,
           experts=160, top_k=6, expert_ffn=1536, shared_experts=2, dense_layers=1,
           q_lora_rank=1536, kv_lora_rank=512, qk_rope_dim=64, qk_nope_dim=128, v_head_dim=128),
    _llama("deepseek-v2-lite", "deepseek-ai/DeepSeek-V2-Lite", 27, 2048, 16, 16, 10944, 102400,
           experts=64, top_k=6, expert_ffn=1408, shared_experts=2, dense_layers=1,
           kv_lora_rank=512, qk_rope_dim=64, qk_nope_dim=128, v_head_dim=128),
    _llama("deepseek-v3", "deepseek-ai/DeepSeek-V3", 61, 7168, 128, 128, 18432, 129280,
           experts=256, top_k=8, expert_ffn=2048, shared_experts=1, dense_layers=3,
           q_lora_rank=1536, kv_lora_rank=512, qk_rope_dim=64, qk_nope_dim=128, v_head_dim=128),
    # MoE models with published config.json files (text decoder only)
    _llama("gpt-oss-120b", "openai/gpt-oss-120b", 36, 2880, 64, 8, 2880, 201088, head_dim=64,
           experts=128, top_k=4, expert_ffn=2880, sliding_window=128, sliding_layers=18,
           notes="layer_types alternate sliding_attention (128-token window) and "
                 "full_attention: sliding layers counted as holding no KV cache (see "
                 "ModelSpec.sliding_window); experts ship as MXFP4 but attention, router, "
                 "embedding and LM head as BF16: the engine uses one weight format for all "
                 "layer weights (weight_format='mxfp4' undercounts the 0.96 B attention "
                 "weights by 1.4 GB); attention biases and sinks (< 0.01 B) left out"),
    _llama("llama-4-maverick-17b-128e", "meta-llama/Llama-4-Maverick-17B-128E-Instruct", 48,
           5120, 40, 8, 16384, 202048, head_dim=128, experts=128, top_k=1, expert_ffn=8192,
           shared_experts=1, dense_layers=24,
           notes="text_config: interleave_moe_layer_step=2 (MoE every other layer, dense "
                 "intermediate_size_mlp=16384 between): the engine prices the average layer, so "
                 "24 dense + 24 MoE layers is exact per step; chunked attention (8192-token "
                 "chunks on 3 of 4 layers) is priced as full attention (exact up to 8192 "
                 "tokens); vision encoder left out"),
    _llama("gpt-oss-20b", "openai/gpt-oss-20b", 24, 2880, 64, 8, 2880, 201088, head_dim=64,
           experts=32, top_k=4, expert_ffn=2880, sliding_window=128, sliding_layers=12,
           notes="as gpt-oss-120b (alternating 128-token sliding and full attention, MXFP4 "
                 "experts), 24 layers of 32 experts"),
    _llama("llama-4-scout-17b-16e", "meta-llama/Llama-4-Scout-17B-16E-Instruct", 48, 5120, 40,
           8, 16384, 202048, head_dim=128, experts=16, top_k=1, expert_ffn=8192,
           shared_experts=1,
           notes="text_config: interleave_moe_layer_step=1 (every layer MoE: 16 routed experts, "
                 "1 active, and a shared expert of 8192); chunked attention priced as full "
                 "attention, as llama-4-maverick; vision encoder left out"),
    _gpt("gpt-6.7b", 32, 4096, 32, 16384, 50257, _PAPER),
    _gpt("gpt-20b", 44, 6144, 48, 24576, 50257, _PAPER),
    _gpt("gpt-22b", 48, 6144, 64, 24576, 51200, _PAPER),
    _gpt("gpt-175b", 96, 12288, 96, 49152, 51200, _PAPER),
    _gpt("gpt-310b", 96, 16384, 128, 65536, 51200, _PAPER),
    _gpt("megatron-530b", 105, 20480, 128, 81920, 51200, _PAPER),
    _gpt("gpt-1t", 128, 25600, 160, 102400, 51200, _PAPER),
]}

MODEL_ALIASES = {"llama-7b": "llama-2-7b", "llama-13b": "llama-2-13b", "llama-70b": "llama-2-70b",
                 "gpt-530b": "megatron-530b", "deepseek-r1": "deepseek-v3",
                 "llama-4-maverick": "llama-4-maverick-17b-128e",
                 "llama-4-scout": "llama-4-scout-17b-16e",
                 "mistral-nemo": "mistral-nemo-12b", "mistral-large": "mistral-large-123b",
                 "mistral-small": "mistral-small-24b",
                 # DeepSeek-R1 distillations: the shapes of the models they were distilled into
                 # (their config.json files name these architectures and sizes)
                 "deepseek-r1-distill-llama-70b": "llama-3.3-70b",
                 "deepseek-r1-distill-llama-8b": "llama-3.1-8b",
                 "deepseek-r1-distill-qwen-32b": "qwen2.5-32b",
                 "deepseek-r1-distill-qwen-14b": "qwen2.5-14b",
                 "deepseek-r1-distill-qwen-7b": "qwen2.5-7b",
                 # fine-tunes that keep their base's shapes (their config.json files: Nemotron-70B
                 # is Llama-3.1-70B's LlamaForCausalLM, QwQ-32B is Qwen2.5-32B's Qwen2ForCausalLM)
                 "llama-3.1-nemotron-70b": "llama-3.1-70b", "qwq-32b": "qwen2.5-32b",
                 # the same shapes under another name: Qwen3-Coder-30B-A3B's config.json is
                 # Qwen3-30B-A3B's (48 layers, 128 experts top-8); Phi-3-mini's 4k / 128k
                 # context variants share one shape
                 "qwen3-coder-30b-a3b": "qwen3-30b-a3b", "phi-3-mini-4k": "phi-3-mini",
                 "phi-3-mini-128k": "phi-3-mini"}

# trailing words of a published checkpoint name that do not change its shape
_CHECKPOINT_WORDS = re.compile(
    r"^(instruct|chat|hf|it|base|fp8|fp16|bf16|fp4|awq|gptq|int4|int8|w4a16|w8a8|gguf|nvfp4|mxfp4|"
    r"dynamic|turbo|v\d+(\.\d+)*|\d{4}|\d{6})$")


def canonical_model(name) -> str | None:
    """The preset a published checkpoint name stands for, or None: the organisation prefix
    dropped (``meta-llama/``), lower case, spaces and underscores as hyphens (``Llama 3.1 70B``),
    ``llama3`` read as ``llama-3`` and ``meta-llama-3``
    as ``llama-3``, then trailing words that name a fine-tune, a release or a quantisation
    (``-Instruct``, ``-chat``, ``-hf``, ``-v0.1``, ``-2507``, ``-FP8``, ...) dropped one at a
    time until a preset or alias matches (``Mixtral-8x7B-Instruct-v0.1`` -> ``mixtral-8x7b``).
    The shapes of these variants are their base model's."""
    key = re.sub(r"[\s_]+", "-", str(name).strip().lower().rsplit("/", 1)[-1])
    key = re.sub(r"^meta-(?=llama)", "", key)
    key = re.sub(r"^llama(?=\d)", "llama-", key)
    words = key.split("-")
    while words:
        k = "-".join(words)
        if k in MODELS or k in MODEL_ALIASES:
            return MODEL_ALIASES.get(k, k)
        if not _CHECKPOINT_WORDS.match(words[-1]) or len(words) == 1:
            return None
        words = words[:-1]
    return None

# Models registered at run time (imported config.json files, user shapes).
_USER_MODELS: dict[str, ModelSpec] = {}

# Documented bounds of every ModelSpec size field, checked by ``check_spec`` (and so by
# ``register_model`` and the config.json / YAML importers). They sit far above any published
# model (Llama-3.1-405B: 126 layers, hidden 16384, vocabulary 128256; DeepSeek-V3: 256
# experts) and low enough that nothing loops for long or overflows.
LIMITS = {
    "layers": (1, 4096), "hidden": (1, 1 << 20), "heads": (1, 1 << 14), "kv_heads": (1, 1 << 14),
    "ffn": (1, 1 << 22), "vocab": (1, 1 << 24), "head_dim": (0, 1 << 14),
    "experts": (1, 1 << 16), "top_k": (1, 1 << 16), "expert_ffn": (0, 1 << 22),
    "shared_experts": (0, 1 << 10), "shared_ffn": (0, 1 << 22), "dense_layers": (0, 4096),
    "q_lora_rank": (0, 1 << 20), "kv_lora_rank": (0, 1 << 20), "qk_rope_dim": (0, 1 << 14),
    "qk_nope_dim": (0, 1 << 14), "v_head_dim": (0, 1 << 14),
}


def _whole(v) -> bool:
    import numbers
    return isinstance(v, numbers.Integral) and not isinstance(v, bool) and type(v).__name__ != "bool_"


def check_spec(spec: ModelSpec, where: str | None = None) -> ModelSpec:
    """Raise ``ValueError`` (naming the field, its value and what is allowed) unless every
    field of ``spec`` is a whole number within ``LIMITS`` and the shape is consistent:
    heads <= hidden, kv_heads dividing heads, top_k <= experts, dense_layers < layers for
    an MoE model, and the MLA dimensions set together."""
    if not isinstance(spec, ModelSpec):
        raise ValueError(f"a ModelSpec is needed, not {type(spec).__name__}")
    w = where or f"model {spec.name!r}"
    if not isinstance(spec.name, str) or not spec.name.strip():
        raise ValueError(f"{w}: name={spec.name!r} must be a non-empty string")
    for f, (lo, hi) in LIMITS.items():
        v = getattr(spec, f)
        if not _whole(v) or not lo <= v <= hi:
            raise ValueError(f"{w}: {f}={v!r} is not allowed: must be a whole number in "
                             f"[{lo}, {hi}]")
    for f in ("gated_mlp", "tie_embeddings"):
        if not isinstance(getattr(spec, f), bool):
            raise ValueError(f"{w}: {f}={getattr(spec, f)!r} must be True or False")

    def bad(msg):
        raise ValueError(f"{w}: {msg}")
    if not spec.head_dim and spec.heads > spec.hidden:
        bad(f"heads={spec.heads} is not allowed: more attention heads than hidden={spec.hidden} "
            f"(each head needs at least one dimension; set head_dim)")
    if not spec.kv_lora_rank and (spec.kv_heads > spec.heads or spec.heads % spec.kv_heads):
        bad(f"kv_heads={spec.kv_heads} is not allowed: must divide heads={spec.heads}")
    if spec.top_k > spec.experts:
        bad(f"top_k={spec.top_k} is not allowed: more than experts={spec.experts}")
    if spec.experts > 1 and spec.dense_layers >= spec.layers:
        bad(f"dense_layers={spec.dense_layers} is not allowed: an MoE model needs fewer dense "
            f"layers than layers={spec.layers}")
    if spec.kv_lora_rank:
        for f in ("qk_rope_dim", "qk_nope_dim", "v_head_dim"):
            if getattr(spec, f) < 1:
                bad(f"{f}={getattr(spec, f)} is not allowed: multi-head latent attention "
                    f"(kv_lora_rank={spec.kv_lora_rank}) needs it >= 1")
    return spec


def is_preset_name(name) -> bool:
    """True when ``name`` is a built-in preset or alias (case-insensitive, as get_model)."""
    key = str(name).lower()
    return key in MODELS or key in MODEL_ALIASES


def register_model(spec: ModelSpec, replace: bool = False) -> ModelSpec:
    """Make ``spec`` available by name to :class:`Scenario` and the sweep.

    The spec is checked (:func:`check_spec`). A name that is a built-in preset or alias is
    refused unless ``replace=True``, which then shadows the preset for this process."""
    check_spec(spec)
    if is_preset_name(spec.name) and not replace:
        raise ValueError(f"model name {spec.name!r} is a built-in preset; choose another name "
                         f"or pass replace=True to shadow it")
    _USER_MODELS[spec.name] = spec
    return spec


def get_model(name) -> ModelSpec:
    if isinstance(name, ModelSpec):
        return name
    if str(name) in _USER_MODELS:          # registered by the user (may shadow a preset)
        return _USER_MODELS[str(name)]
    key = str(name).lower()
    key = MODEL_ALIASES.get(key, key)
    if key in _USER_MODELS:
        return _USER_MODELS[key]
    if key in MODELS:
        return MODELS[key]
    canon = canonical_model(name)
    if canon is not None:
        return MODELS[canon]
    raise unknown("model", name, list(MODELS) + list(MODEL_ALIASES) + list(_USER_MODELS))


def list_models() -> list[str]:
    return list(MODELS) + [k for k in _USER_MODELS if k not in MODELS]
