"""Execution time of one engine iteration: decode sequences and prefill chunks in ONE pass.

The same closed form as ``simulate()``: the layer kernels of ``kernel_model.kernels`` over
all the tokens of the pass (GEMMs, norms, collectives, MoE routing see ``T = decode seqs +
prefill tokens``), one attention kernel whose work is the sum of the decode part (each
sequence reads its whole context) and the prefill part (each chunk of ``c`` tokens after
``k`` cached ones: ``c*k + c(c+1)/2`` causal pairs, reads ``k + c`` tokens of KV), composed
into layers / stages / micro-batches by ``schedule.phase``. A pass with decode sequences
uses the decode (steady pipeline) composition; a pass of prefill only, the prefill one.

Two ways in:

``mixed_step(P, decode_seqs, decode_ctx, prefill_tokens, prefill_ctx, prefill_seqs)``
    vectorised over numpy arrays, through ``schedule.phase`` itself;
``StepModel(P)``
    the same numbers for the event loop, one pass at a time in plain Python floats: every
    part that depends on the token count only is tabulated once (integers up to
    ``DENSE`` tokens, then a 0.5 % geometric grid, linear in between) and the attention
    kernel and the composition are evaluated per call (a few microseconds).
A test checks that the two agree to 1e-9 on integer token counts.
"""
from __future__ import annotations

import bisect
import math

import numpy as np

from ..kernels import (LAYER_KERNELS, HEAD_KERNELS, TAIL_KERNELS, KIND, ACT_BYTES,
                       layer_work, head_tail_work, kernel_times)
from .. import schedule, collectives as coll

DENSE = 4096          # token counts tabulated one by one
GROWTH = 1.005        # geometric step of the table beyond DENSE


def attention_work(P, tokens, kv_tokens, pairs, scores):
    """(flops, bytes, 0) of the attention kernel of one layer on one GPU for a pass of
    ``tokens`` query tokens that read ``kv_tokens`` cached tokens in all, with ``pairs``
    causal (query, key) pairs of the prefill chunks (decode queries count in ``kv_tokens``
    only: their pairs are the context they read) and ``scores`` = sum of chunk x context
    (the score matrices, materialised only without FlashAttention)."""
    tp, dp = P["tp"], P["gps"] / P["tp"]
    kvfrac = np.maximum(1.0 / tp, 1.0 / P["kv_groups"])
    qkv_o, att_o = P["qkv_out"] / tp, P["attn_out"] / tp
    flops = pairs / dp * P["attn_flops"] / tp
    bytes_ = (tokens / dp * (qkv_o + att_o) * ACT_BYTES
              + kv_tokens / dp * P["kv_elems"] * kvfrac * P["kvb"])
    bytes_ = bytes_ + np.where(P["flash"] > 0, 0.0, scores / dp * P["nh"] / tp * ACT_BYTES * 4.0)
    return flops, bytes_, 0.0 * flops


def _attention_sums(decode_seqs, decode_ctx, prefill_tokens, prefill_ctx, prefill_seqs):
    """(kv_tokens, pairs, scores) of a pass: decode sequences at mean context ``decode_ctx``,
    ``prefill_seqs`` equal chunks of ``prefill_tokens`` in all after ``prefill_ctx`` cached."""
    s = np.maximum(prefill_seqs, 1.0)
    c = prefill_tokens / s
    k = prefill_ctx
    dec = decode_seqs * decode_ctx
    kv = dec + np.where(prefill_tokens > 0, s * (k + c), 0.0)
    pairs = dec + prefill_tokens * k + s * c * (c + 1.0) / 2.0
    scores = prefill_tokens * (k + c)
    return kv, pairs, scores


def mixed_step(P, decode_seqs, decode_ctx, prefill_tokens, prefill_ctx=0.0, prefill_seqs=None,
               micro_batches=None):
    """Seconds of one forward pass over ``decode_seqs`` decode sequences (mean context
    ``decode_ctx`` tokens, one new token each) plus ``prefill_tokens`` prompt tokens in
    ``prefill_seqs`` chunks (default 1 when there are any), each after ``prefill_ctx``
    tokens already cached. Every argument broadcasts (numpy arrays). ``micro_batches``
    (default ``P["m"]``) splits the pass over the pipeline, at most one per sequence.

    ``mixed_step(P, B, p + o/2, 0)`` is ``simulate()``'s ``tpot_s`` and
    ``mixed_step(P, 0, 0, B*p, 0, B)`` its ``ttft_s``."""
    d = np.asarray(decode_seqs, dtype=float)
    q = np.asarray(prefill_tokens, dtype=float)
    s = np.where(q > 0, 1.0, 0.0) if prefill_seqs is None else np.asarray(prefill_seqs, float)
    m = P["m"] if micro_batches is None else np.asarray(micro_batches, dtype=float)
    m = np.clip(m, 1.0, np.maximum(d + s, 1.0))
    kv, pairs, scores = _attention_sums(d, np.asarray(decode_ctx, float), q,
                                        np.asarray(prefill_ctx, float), s)
    T = (d + q) / m
    work = layer_work(P, T, T, 1.0, False)
    work["attention"] = attention_work(P, T, kv / m, pairs / m, scores / m)
    Pm = dict(P, m=m)
    mix = (T, (d + s) / m, work)
    dec = schedule.phase(Pm, P["link"], False, mix=mix)["total"]
    pre = schedule.phase(Pm, P["link"], True, mix=mix)["total"]
    return np.where(d > 0, dec, pre)


class StepModel:
    """``mixed_step`` one pass at a time, fast (see the module docstring).

    ``time(T, last, kv, pairs, scores, m)``: ``T`` tokens of the pass, ``last`` sequences
    that produce a token, attention sums as in ``attention_work``, ``m`` micro-batches."""

    def __init__(self, P, max_tokens):
        P = {k: (float(np.asarray(v)) if k != "link" else v) for k, v in P.items()}
        self.P = P
        top = max(float(max_tokens), 2.0)
        grid = list(range(0, min(DENSE, int(top)) + 2))
        x = float(grid[-1])
        while x < top * GROWTH:
            x *= GROWTH
            grid.append(x)
        self.grid = grid
        self.n_dense = min(DENSE, int(top)) + 2
        self._tabulate(np.array(grid, dtype=float))
        self._dc = {}
        tp = P["tp"]
        dp = P["gps"] / tp
        self.kvfrac = max(1.0 / tp, 1.0 / P["kv_groups"])
        self.c_act = (P["qkv_out"] + P["attn_out"]) / tp * ACT_BYTES / dp
        self.c_kv = P["kv_elems"] * self.kvfrac * P["kvb"] / dp
        self.c_score = 0.0 if P["flash"] > 0 else P["nh"] / tp * ACT_BYTES * 4.0 / dp
        self.c_flops = P["attn_flops"] / tp / dp
        self.peak_a = P["F16"] * P["ea"]
        self.bw = P["HBM"] * P["em"]
        self.host = P["t_step"] + P["server"] * P["t_server"]
        self.t_seq = P.get("t_seq", 0.0)        # host time per sequence sampled in a pass
        L, pp = P["L"], P["pp"]
        self.L_first = math.ceil(L / pp)
        L_last = L - (pp - 1) * self.L_first
        self.L_last = math.floor(L / pp) if L_last < 1 else L_last

    def _tabulate(self, t):
        P = self.P
        work = layer_work(P, t, t, 1.0, False)
        work.update(head_tail_work(P, t / (P["gps"] / P["tp"]), t))
        names = [n for n in LAYER_KERNELS if n != "attention"]
        kt = kernel_times(P, work, P["link"], names + list(HEAD_KERNELS) + list(TAIL_KERNELS))
        mm = [n for n in names if KIND[n] == "gemm"]
        zero = 0.0 * t
        self.t_nonatt = sum((kt[n][0] for n in names if KIND[n] != "comm"), zero).tolist()
        self.t_comm = sum((kt[n][4] for n in names), zero).tolist()
        self.t_gemm = sum((kt[n][1] + kt[n][2] for n in mm), zero).tolist()
        self.t_head = sum((kt[n][0] for n in HEAD_KERNELS), zero).tolist()
        self.t_tail = sum((kt[n][0] for n in TAIL_KERNELS), zero).tolist()
        S = t / (P["gps"] / P["tp"]) * P["h"] * P["cb"] / P["tp"]
        self.t_in = coll.p2p(S, False, P["link"], P["c_coll"]).tolist()
        self.t_x = coll.p2p(S, True, P["link"], P["c_coll"]).tolist()

    def _at(self, table, x):
        """Table value at token count ``x`` (linear between grid points)."""
        if x < self.n_dense - 1:
            i = int(x)
            f = x - i
            return table[i] if f == 0.0 else table[i] + f * (table[i + 1] - table[i])
        g = self.grid
        i = bisect.bisect_right(g, x) - 1
        if i >= len(g) - 1:
            raise ValueError(f"a pass of {x:.0f} tokens per micro-batch is beyond the "
                             f"table built for {g[-1]:.0f}")
        f = (x - g[i]) / (g[i + 1] - g[i])
        return table[i] + f * (table[i + 1] - table[i])

    def time(self, T, last, kv, pairs, scores, m=1.0, prefill=False):
        """Seconds of one pass (all arguments for the whole pass, not per micro-batch);
        ``prefill``: the fill-and-drain composition of a pass without decode sequences."""
        P, at = self.P, self._at
        T, last, kv, pairs, scores = T / m, last / m, kv / m, pairs / m, scores / m
        # the attention kernel: roofline of its math and memory, plus a launch
        c = pairs * self.c_flops / self.peak_a
        mem = (T * self.c_act + kv * self.c_kv + scores * self.c_score) / self.bw
        hi, lo = (c, mem) if c >= mem else (mem, c)
        r = hi * (1.0 + (lo / hi) ** P["rexp"]) ** (1.0 / P["rexp"]) if hi > 0 else 0.0
        att = r + (P["t_launch"] if mem > 0 else 0.0)
        comm = at(self.t_comm, T)
        hidden = min(P["overlap"] * comm, at(self.t_gemm, T) + r)
        t_layer = at(self.t_nonatt, T) + att + comm - hidden
        t_head, t_tail = at(self.t_head, T), at(self.t_tail, last)
        L, pp = P["L"], P["pp"]
        host = self.host + self.t_seq * last * m
        if pp <= 1:
            return m * (L * t_layer + t_head + t_tail) + host
        t_first = self.L_first * t_layer + t_head
        t_last = self.L_last * t_layer + t_tail
        t_crit = max(t_first, t_last)
        n_cross = min(pp - 1, math.ceil(P["gps"] * pp / P["gpn"]) - 1)
        transfers = (pp - 1 - n_cross) * at(self.t_in, T) + n_cross * at(self.t_x, T)
        cycle = L * t_layer + t_head + t_tail + transfers
        core = cycle + (m - 1) * t_crit if prefill else max(m * t_crit, cycle)
        return core + host

    def _decode_consts(self, d, m):
        key = (d, m)
        got = self._dc.get(key)
        if got is None:
            P, at = self.P, self._at
            T = d / m
            tail = at(self.t_tail, T)
            head = at(self.t_head, T)
            n_cross = min(P["pp"] - 1, math.ceil(P["gps"] * P["pp"] / P["gpn"]) - 1)
            transfers = ((P["pp"] - 1 - n_cross) * at(self.t_in, T) + n_cross * at(self.t_x, T)
                         if P["pp"] > 1 else 0.0)
            got = (T * self.c_act, at(self.t_nonatt, T) + P["t_launch"], at(self.t_comm, T),
                   at(self.t_gemm, T), head, tail, transfers)
            if len(self._dc) > 100_000:
                self._dc.clear()
            self._dc[key] = got
        return got

    def decode_fn(self, d, m=1.0):
        """The function ctx_sum -> seconds of a decode-only pass of ``d`` sequences (the
        parts that depend on ``d`` only computed once and cached)."""
        m = max(1.0, min(m, d))
        key = (d, m, "fn")
        fn = self._dc.get(key)
        if fn is not None:
            return fn
        P = self.P
        act, nonatt, comm, gemm, head, tail, transfers = self._decode_consts(d, m)
        cf, e, ie = self.c_flops / self.peak_a / m, P["rexp"], 1.0 / P["rexp"]
        a0, a1 = act / self.bw, self.c_kv / self.bw / m
        base, ovc = nonatt + comm, P["overlap"] * comm
        L, pp, host = P["L"], P["pp"], self.host + self.t_seq * d
        if pp <= 1:
            k_l, k_0 = m * L, m * (head + tail) + host

            def fn(ctx_sum):
                c, mem = ctx_sum * cf, a0 + ctx_sum * a1
                hi, lo = (c, mem) if c >= mem else (mem, c)
                r = hi * (1.0 + (lo / hi) ** e) ** ie
                return k_l * (base + r - min(ovc, gemm + r)) + k_0
        else:
            Lf, Ll, extra = self.L_first, self.L_last, head + tail + transfers

            def fn(ctx_sum):
                c, mem = ctx_sum * cf, a0 + ctx_sum * a1
                hi, lo = (c, mem) if c >= mem else (mem, c)
                r = hi * (1.0 + (lo / hi) ** e) ** ie
                t_layer = base + r - min(ovc, gemm + r)
                t_crit = max(Lf * t_layer + head, Ll * t_layer + tail)
                return max(m * t_crit, L * t_layer + extra) + host
        self._dc[key] = fn
        return fn

    def decode_time(self, d, ctx_sum, m=1.0):
        """``step(d, ctx_sum, (), m)`` for a decode-only pass (the event loop's most
        frequent call)."""
        return self.decode_fn(d, m)(ctx_sum)

    def decode_times(self, d, ctx0, k, m=1.0):
        """Seconds of ``k`` consecutive decode-only passes of ``d`` sequences whose contexts
        add up to ``ctx0`` in the first pass and grow by ``d`` a pass (numpy array; the
        same numbers as ``step`` pass by pass)."""
        P, at = self.P, self._at
        m = max(1.0, min(m, d))
        ctx = (ctx0 + d * np.arange(k, dtype=float)) / m
        T = d / m
        c = ctx * self.c_flops / self.peak_a
        mem = (T * self.c_act + ctx * self.c_kv) / self.bw
        hi, lo = np.maximum(c, mem), np.minimum(c, mem)
        safe = np.where(hi > 0, hi, 1.0)
        r = np.where(hi > 0, hi * (1.0 + (lo / safe) ** P["rexp"]) ** (1.0 / P["rexp"]), 0.0)
        att = r + P["t_launch"]
        comm = at(self.t_comm, T)
        hidden = np.minimum(P["overlap"] * comm, at(self.t_gemm, T) + r)
        t_layer = at(self.t_nonatt, T) + att + comm - hidden
        t_head, t_tail = at(self.t_head, T), at(self.t_tail, T)
        L, pp = P["L"], P["pp"]
        if pp <= 1:
            return m * (L * t_layer + t_head + t_tail) + self.host + self.t_seq * d
        t_crit = np.maximum(self.L_first * t_layer + t_head, self.L_last * t_layer + t_tail)
        n_cross = min(pp - 1, math.ceil(P["gps"] * pp / P["gpn"]) - 1)
        transfers = (pp - 1 - n_cross) * at(self.t_in, T) + n_cross * at(self.t_x, T)
        cycle = L * t_layer + t_head + t_tail + transfers
        return np.maximum(m * t_crit, cycle) + self.host + self.t_seq * d

    def step(self, decode_seqs, decode_ctx_sum, chunks=(), m=1.0):
        """Seconds of a pass of ``decode_seqs`` decode sequences whose contexts add up to
        ``decode_ctx_sum`` plus prefill ``chunks`` [(chunk tokens, cached before, final)]."""
        q = kvq = pq = sq = 0.0
        fin = 0
        for c, k, final in chunks:
            q += c
            kvq += k + c
            pq += c * k + c * (c + 1.0) / 2.0
            sq += c * (k + c)
            fin += 1 if final else 0
        m = max(1.0, min(m, decode_seqs + len(chunks)))
        return self.time(decode_seqs + q, decode_seqs + fin, decode_ctx_sum + kvq,
                         decode_ctx_sum + pq, sq, m, decode_seqs == 0)
