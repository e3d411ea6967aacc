"""One replica's iteration loop (the discrete-event core of ``serve``).

Each iteration is one forward pass whose time comes from ``StepModel`` (the engine's
closed form). Schedulers:

``continuous``  (Orca / vLLM v0): when requests wait and fit, a prefill-only pass admits
                them (up to ``max_batch`` sequences, ``max_batched_tokens`` prompt tokens,
                at least one request); otherwise a decode pass of every running sequence.
``chunked``     (Sarathi-Serve / vLLM v1): every pass carries all running decodes plus
                prefill chunks filling the rest of the ``max_batched_tokens`` budget.
``static``      (request-level batching): a batch is formed only when the engine is empty,
                prefilled in one pass and decoded until its last sequence ends.

Memory: paged KV blocks. A sequence holds its prompt from admission and one more token per
step; its last block is on average half full. Admission (``admission="optimistic"``, vLLM)
waits until the prompt fits with ``WATERMARK`` of the blocks left free; when decode growth
overflows the cache, the most recently admitted sequence is preempted (its blocks freed)
and recomputed later as a prefill of its prompt plus the tokens it had generated (vLLM's
recompute policy). ``admission="reserve"`` (TensorRT-LLM's default GUARANTEED_NO_EVICT)
admits a request only when its prompt plus its whole output fit beside the reservations of
the admitted ones, so nothing is ever preempted.

Decode progress is counted lazily: a running sequence's generated tokens are
``g0 + (passes - joined)``, so a pass costs O(1) Python work plus the sequences that end.
"""
from __future__ import annotations

import bisect
import heapq
import itertools
from collections import deque

import numpy as np

from .config import BLOCK_TOKENS, WATERMARK

FAST_MAX = 4096            # decode passes computed at once between events
FAST_SMALL = 24            # up to this many, pass by pass (cheaper than numpy)

WAITING, PREFILL, RUNNING, DONE = 0, 1, 2, 3


class Replica:
    """Run requests ``ids`` of ``R`` (a dict of per-request lists, filled in place).

    ``mode``: "full" (prefill and decode), "prefill" (requests leave after their first
    token: a disaggregated prefill instance) or "decode" (requests arrive prefilled).
    """

    def __init__(self, step_model, cfg, kv_tokens, micro_batches, index, mode="full",
                 pool="mixed", steps=None):
        self.sm = step_model
        self.sched = cfg.scheduler
        self.max_batch = cfg.max_batch
        self.budget = cfg.max_batched_tokens
        self.prefix_cache = cfg.prefix_cache
        self.reserve = cfg.admission == "reserve" and mode != "prefill"
        self.reserved = 0.0           # tokens reserved by admitted requests (all of them)
        self.cap = float(kv_tokens)
        self.m = float(micro_batches)
        self.index = index
        self.mode = mode
        self.pool = pool
        self.steps = steps
        self.area_wait = 0.0
        self.preemptions = 0
        self.busy_s = 0.0             # time in passes, and its integrals of the batch and KV use
        self.batch_area = 0.0
        self.kv_area = 0.0
        self.kv_max = 0.0

    # ---- the loop ------------------------------------------------------------------------
    def run(self, R, ids):
        arr = R["arrival_s"]
        self.R = R
        heap = [(arr[i], i) for i in ids if arr[i] == arr[i]]
        heapq.heapify(heap)
        self.waiting = deque()
        self.prefilling = deque()          # [id, total tokens, done, cached before]
        self.fin = []                      # (finish pass count, id, version)
        self.order = []                    # running ids, admission order (LIFO preemption)
        self.d, self.A, self.ds, self.held = 0, 0.0, 0, 0.0
        self.seen = set()
        t = 0.0
        while True:
            while heap and heap[0][0] <= t:
                a, i = heapq.heappop(heap)
                self.area_wait += t - a
                self.waiting.append(i)
                R["wait_since"][i] = a
            if not self.waiting and not self.prefilling and self.d == 0:
                if not heap:
                    break
                t = heap[0][0]
                continue
            t_ff = self._fast_forward(t, heap)
            t = self._iteration(t, heap) if t_ff is None else t_ff
        return t

    def _fast_forward(self, t, heap):
        """Run the decode-only passes before the next event (a sequence ends, a request
        arrives, the cache fills) at once; None when the next pass is not such a pass."""
        d = self.d
        if d == 0 or self.prefilling or self.mode == "prefill":
            return None
        if self.waiting and self.sched != "static" and d < self.max_batch:
            i = self.waiting[0]
            if self._fits_request(i):
                return None                   # the next pass admits
        room = (self.cap - self.A - self.held - d * BLOCK_TOKENS / 2.0) / d - 1.0
        k = min(self.fin[0][0] - self.ds, int(room) - self.ds + 1, FAST_MAX)
        if k < 1:
            return None
        ctx0 = self.A + d * self.ds
        sm, m = self.sm, self.m
        fn = sm.decode_fn(d, m)
        dt0 = fn(ctx0)
        if heap:                  # passes only get longer: this many reach the next arrival
            k = max(1, min(k, int((heap[0][0] - t) / dt0) + 1))
        if k <= FAST_SMALL:
            dts = [dt0] + [fn(ctx0 + d * j) for j in range(1, k)]
            ends = list(itertools.accumulate(dts, initial=t))
            if heap:
                k = min(k, bisect.bisect_left(ends, heap[0][0], 1) )
                dts = dts[:k]
            starts, t_end = ends[:k], ends[k]
        else:
            dts = sm.decode_times(d, ctx0, k, m)
            ends = t + np.cumsum(dts)
            if heap:
                k = min(k, int(np.searchsorted(ends, heap[0][0])) + 1)
                dts, ends = dts[:k], ends[:k]
            t_end = float(ends[-1])
            starts = [t] + ends[:-1].tolist()
            dts = dts.tolist()
        self.area_wait += len(self.waiting) * (t_end - t)
        u_first = self.A + d * self.ds + self.held + d * BLOCK_TOKENS / 2.0
        jw = sum(j * x for j, x in enumerate(dts))
        self._account(t_end - t, d, u_first, u_first + d * (k - 1), d * jw)
        if self.steps is not None:
            u0 = u_first / BLOCK_TOKENS
            du = d / BLOCK_TOKENS
            self.steps.extend(self.index, self.pool, starts, d, 0, dts,
                              [u0 + du * j for j in range(k)], len(self.waiting))
        self.ds += k
        fin = self.fin
        while fin and fin[0][0] <= self.ds:
            _, i, ver = heapq.heappop(fin)
            if ver == self.R["version"][i]:
                self._finish(i, t_end, heap)
        return t_end

    def _iteration(self, t, heap):
        R = self.R
        if self.mode == "decode":
            self._admit_decode(t)
            chunks = []
        else:
            chunks = self._schedule(t)
        d = self.d if (self.sched == "chunked" or not chunks) else 0
        if d:
            self._make_room(t)
            d = self.d
        elif not chunks:
            raise RuntimeError("serving engine stalled: a waiting request fits nowhere "
                               "(check the KV-cache capacity)")
        ctx = self.A + self.d * self.ds if d else 0.0
        dt = self.sm.step(d, ctx, [(c, k, done) for _, c, k, done in chunks], self.m)
        self.area_wait += len(self.waiting) * dt
        t_end = t + dt
        used = self.A + self.d * self.ds + self.held + self.d * BLOCK_TOKENS / 2.0
        self._account(dt, d, used, used, 0.0)
        if self.steps is not None:
            self.steps.extend(self.index, self.pool, [t], d, sum(c for _, c, _, _ in chunks),
                              [dt], [used / BLOCK_TOKENS], len(self.waiting))
        if d:
            self.ds += 1
            fin = self.fin
            while fin and fin[0][0] <= self.ds:
                _, i, ver = heapq.heappop(fin)
                if ver == R["version"][i]:
                    self._finish(i, t_end, heap)
        for i, c, k, done in chunks:
            if done:
                self._prefilled(i, t_end, heap)
        return t_end

    def _account(self, dt, d, used_first, used_last, growth):
        """Integrals over time of the batch and the KV tokens in use (a run of passes: pass
        j holds ``used_first + d*j`` tokens; ``growth`` = sum of d*j*dt_j)."""
        self.busy_s += dt
        self.batch_area += d * dt
        self.kv_area += used_first * dt + growth
        self.kv_max = max(self.kv_max, used_last)

    # ---- scheduling ----------------------------------------------------------------------
    def _fits_request(self, i):
        """Can request ``i`` be admitted now? ``optimistic`` (vLLM): its current tokens fit
        the free blocks; ``reserve`` (TensorRT-LLM GUARANTEED_NO_EVICT): its prompt plus
        all its output fit beside what the admitted requests reserved."""
        R = self.R
        if self.reserve:
            n = self.d + len(self.prefilling) + 1
            need = R["prompt_tokens"][i] + R["output_tokens"][i]
            return self.reserved + need + n * BLOCK_TOKENS / 2.0 <= self.cap * (1.0 - WATERMARK)
        return self._fits(R["prompt_tokens"][i] + R["generated"][i])

    def _fits(self, tokens):
        used = self.A + self.d * self.ds + self.held + (self.d + 1) * BLOCK_TOKENS / 2.0
        return used + tokens <= self.cap * (1.0 - WATERMARK)

    def _admit(self, t):
        """Move the head of the queue into prefill; False when it does not fit."""
        R = self.R
        i = self.waiting[0]
        total = R["prompt_tokens"][i] + R["generated"][i]
        if not self._fits_request(i):
            return False
        if self.reserve:
            self.reserved += R["prompt_tokens"][i] + R["output_tokens"][i]
        self.waiting.popleft()
        R["queue_s"][i] += t - R["wait_since"][i]
        if R["start_s"][i] != R["start_s"][i]:
            R["start_s"][i] = t
        cached = 0
        if self.prefix_cache and R["prefix_id"][i] >= 0 and not R["generated"][i]:
            key = R["prefix_id"][i]
            if key in self.seen:
                cached = min(R["prefix_tokens"][i], total - 1)
            self.seen.add(key)
        R["cached_tokens"][i] = cached
        self.held += total
        self.prefilling.append([i, total, cached, cached])
        return True

    def _schedule(self, t):
        """Chunks of this pass: [(id, chunk tokens, cached before, prefill completes)]."""
        sched, pre = self.sched, self.prefilling
        if sched == "static":
            if self.d or pre:
                return []
            while self.waiting and len(pre) < self.max_batch and self._admit(t):
                pass
            return [(e[0], e[1] - e[2], e[2], True) for e in list(pre)]
        if sched == "continuous":
            tokens = 0
            while (self.waiting and self.d + len(pre) < self.max_batch
                   and (not pre or tokens + self._head_len() <= self.budget)
                   and self._admit(t)):
                tokens += pre[-1][1] - pre[-1][2]
            return [(e[0], e[1] - e[2], e[2], True) for e in list(pre)]
        budget = self.budget - self.d
        out = []
        for e in pre:
            if budget <= 0:
                break
            c = min(e[1] - e[2], budget)
            out.append((e[0], c, e[2], e[2] + c >= e[1]))
            budget -= c
        while (budget > 0 and self.waiting and self.d + len(pre) < self.max_batch
               and self._admit(t)):
            e = pre[-1]
            c = min(e[1] - e[2], budget)
            out.append((e[0], c, e[2], e[2] + c >= e[1]))
            budget -= c
        for i, c, k, done in out:
            for e in pre:
                if e[0] == i:
                    e[2] += c
                    break
        return out

    def _head_len(self):
        i = self.waiting[0]
        return self.R["prompt_tokens"][i] + self.R["generated"][i]

    def _admit_decode(self, t):
        """Decode instance: prefilled requests join the batch when their KV fits."""
        R = self.R
        while self.waiting and self.d < self.max_batch:
            i = self.waiting[0]
            if not self._fits_request(i):
                break
            if self.reserve:
                self.reserved += R["prompt_tokens"][i] + R["output_tokens"][i]
            self.waiting.popleft()
            R["queue_s"][i] += t - R["wait_since"][i]
            self._join(i)

    # ---- state changes ----------------------------------------------------------------------
    def _prefilled(self, i, t_end, heap):
        R = self.R
        for k, e in enumerate(self.prefilling):
            if e[0] == i:
                del self.prefilling[k]
                self.held -= e[1]
                break
        R["generated"][i] += 1
        if R["first_token_s"][i] != R["first_token_s"][i]:
            R["first_token_s"][i] = t_end
        if self.mode == "prefill" or R["generated"][i] >= R["output_tokens"][i]:
            self._finish(i, t_end, heap, running=False)
        else:
            self._join(i)

    def _join(self, i):
        R = self.R
        g0 = R["generated"][i]
        R["joined"][i] = self.ds
        R["state"][i] = RUNNING
        self.A += R["prompt_tokens"][i] + g0 - self.ds
        self.d += 1
        self.order.append(i)
        heapq.heappush(self.fin, (self.ds + R["output_tokens"][i] - g0, i, R["version"][i]))

    def _leave(self, i):
        R = self.R
        g = R["generated"][i] + self.ds - R["joined"][i]
        self.A -= R["prompt_tokens"][i] + R["generated"][i] - R["joined"][i]
        self.d -= 1
        R["generated"][i] = g
        R["version"][i] += 1

    def _finish(self, i, t_end, heap, running=True):
        R = self.R
        if running:
            self._leave(i)
        R["state"][i] = DONE
        if self.reserve:
            self.reserved -= R["prompt_tokens"][i] + R["output_tokens"][i]
        R["finish_s"][i] = t_end
        nxt = R["next"][i]
        if nxt >= 0:                                   # closed loop: the user's next request
            R["arrival_s"][nxt] = t_end + R["think_s"]
            heapq.heappush(heap, (R["arrival_s"][nxt], nxt))

    def _make_room(self, t):
        """Preempt the most recently admitted sequences until this decode pass fits."""
        R = self.R
        while self.d > 1:
            used = (self.A + self.d * (self.ds + 1) + self.held
                    + self.d * BLOCK_TOKENS / 2.0)
            if used <= self.cap:
                return
            i = self.order.pop()
            if R["state"][i] != RUNNING:
                continue
            self._leave(i)
            R["state"][i] = WAITING
            R["preemptions"][i] += 1
            R["wait_since"][i] = t
            self.waiting.appendleft(i)
            self.preemptions += 1
