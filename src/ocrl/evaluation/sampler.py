"""Sampling completions with transformers, on CPU or GPU (vLLM: ``vllm_sampler.py``).

The transformers path is a small continuous-batching loop around the model's forward pass:
up to ``batch_size`` sequences decode together with a KV cache; a sequence that ends (EOS,
its format's stop condition, or ``max_new_tokens``) leaves the batch as soon as queued
prompts can take its place or a quarter of the batch has ended (leaving copies the cache, so
finished rows are dropped together). Prompts are left-padded and prefilled in batches of
similar length (little compute spent on padding), the n samples of a prompt share one
prefill, a token prefix common to all prompts (a chat template's system turn and instruction)
is computed once, dropping rows also drops the cache columns the mask hides from every row
(as far as the widest row allows), and decode steps write into spare cache columns in place.
Each row's columns sit at the right of the cache (padding to their left), rows sorted longest
first when rows are dropped, so attention reads groups of similar rows from their first column
on (``attention.row_windows``) instead of every row over the longest one's width, the
output layer runs in slices of the vocabulary (``output_layer``: same logits, less time) and
the other linear layers as transposed products (``projections``: the same, for 16 to 64 rows).
While few rows remain (a batch's long answers set its number of steps), a step also verifies
prompt-lookup drafts (``drafting.py``): several tokens per row and step, the rejected ones
left in the cache as columns the mask hides until rows are next dropped. Models whose layers
are not all plain full attention (sliding-window or hybrid attention) fall back to batched
``model.generate``.

Over 400 lines on purpose: the decode loop, the prefill planner and the in-place cache layer
share one invariant (row i of every cache layer is sequence i of the batch, its columns
left-padded to a common width) that each of them maintains; split apart, each file would
only be readable beside the others.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ocrl.evaluation import attention, nucleus
from ocrl.evaluation.attention import in_place_gqa, plan_windows, row_windows
from ocrl.evaluation.drafting import (AcceptanceEstimate, LookupIndex, step_draft_length,
                                      verify_greedy, verify_sampled)
from ocrl.evaluation.output_layer import sliced_output_layer
from ocrl.evaluation.projections import transposed_projections


@dataclass
class SamplingConfig:
    n: int = 1  # samples per prompt
    temperature: float = 0.0  # 0 means greedy
    top_p: float = 0.95
    max_new_tokens: int = 512
    batch_size: int = 64  # sequences decoding together
    seed: int = 0
    # Most prompt-lookup draft tokens verified per row and decode step (drafting.py); 0 off.
    draft_tokens: int = 8


@dataclass
class Generation:
    text: str  # generated text only, special tokens removed
    n_tokens: int  # tokens generated, EOS included, padding excluded
    finish: str  # "stop" (EOS or a stop condition) or "length"


@dataclass
class SamplerStats:
    generated_tokens: int = 0
    generate_seconds: float = 0.0
    batches: int = 0  # prefills (continuous) or generate calls (fallback)
    # Where the continuous loop's time goes: a decode step's cost grows with the rows it
    # carries (finished rows ride along until dropped) and the cache's width, so a low
    # tokens/s is a tail of few rows, wasted rows or wide caches, each visible here.
    prefill_seconds: float = 0.0
    decode_steps: int = 0
    decode_seconds: float = 0.0
    decode_rows: int = 0  # summed over steps: rows computed
    decode_live_rows: int = 0  # summed over steps: rows still generating
    decode_columns: int = 0  # summed over steps: cache width
    read_columns: float = 0.0  # summed over steps: columns attention read, mean over rows
    decode_tokens: int = 0  # tokens decode steps added to sequences (prefills add the first)
    draft_columns: int = 0  # summed over steps: draft columns fed per row
    draft_tokens: int = 0  # draft tokens proposed (live rows)
    draft_kept: int = 0  # of which the model kept
    extra: dict = field(default_factory=dict)

    @property
    def tokens_per_second(self) -> float:
        return self.generated_tokens / self.generate_seconds if self.generate_seconds else 0.0

    def decode_profile(self) -> dict:
        """Means per decode step (empty before the first one)."""
        steps = self.decode_steps
        if not steps:
            return {}
        return {"steps": steps, "step_ms": 1000 * self.decode_seconds / steps,
                "rows": self.decode_rows / steps, "live_rows": self.decode_live_rows / steps,
                "cache_columns": self.decode_columns / steps,
                "read_columns": self.read_columns / steps,
                "tokens_per_live_row": self.decode_tokens / max(1, self.decode_live_rows),
                "draft_columns": self.draft_columns / steps,
                "draft_kept_share": self.draft_kept / max(1, self.draft_tokens),
                "prefill_seconds": self.prefill_seconds, "decode_seconds": self.decode_seconds}


def derive_seed(seed: int, *keys) -> int:
    """A seed for one unit of work, stable across runs and processes (``hash`` is salted)."""
    text = ":".join(str(k) for k in (seed, *keys))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


# Shorter common prefixes are not worth a separate forward pass.
MIN_SHARED_PREFIX = 8
# A prefill batch holds prompts at least this share of its longest one's length, so at most
# 1 - PREFILL_MIN_FILL of its compute goes to padding (HumanEval prompts run from about 50 to
# 800 tokens; one padded batch spent about a quarter of its prefill on padding).
PREFILL_MIN_FILL = 0.85


def _length_chunks(lengths: Sequence[int], min_fill: float = PREFILL_MIN_FILL) -> list[list[int]]:
    """Indices of ``lengths`` grouped longest first so that every group's lengths are at least
    ``min_fill`` times its longest."""
    chunks: list[list[int]] = []
    for index in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        if chunks and lengths[index] >= min_fill * lengths[chunks[-1][0]]:
            chunks[-1].append(index)
        else:
            chunks.append([index])
    return chunks


class _UnsupportedCache(Exception):
    """The model's KV cache cannot be merged and sliced row by row."""


# Columns reserved past a cache's end: decode steps write into them in place. A DynamicLayer
# concatenates instead, copying the whole cache at every step (SmolLM2-135M, 32 rows, 800
# cached tokens: 374 ms a step against 220 ms in place, fp32, 2 threads:
# benchmarks/decode_step.py).
CACHE_SPARE_COLUMNS = 256


# GrowingLayer reaches inside transformers' DynamicLayer (keys, values, is_initialized and
# update's contract), which any minor release may change: the releases it is tested with,
# pinned in pyproject.toml and checked by tests/test_sampler_transformers.py.
TESTED_TRANSFORMERS = ">=5.24,<5.25"


@functools.cache
def _growing_layer_class():
    from transformers import DynamicLayer

    class GrowingLayer(DynamicLayer):
        """A full-attention cache layer whose ``keys``/``values`` are views of buffers with
        spare columns, so a decode step writes its token in place. Rows are merged and
        selected by copying into fresh buffers (admissions and finished rows only)."""

        def __init__(self, spare: int = CACHE_SPARE_COLUMNS):
            super().__init__()
            self.spare = spare
            self._key_buffer = self._value_buffer = None
            self._end = 0

        def _adopt(self, keys, values, left_zeros: int = 0, room: int = 0) -> None:
            rows, heads, length, dim = keys.shape
            width = left_zeros + length
            capacity = width + max(room, self.spare)
            # Spare columns are written before they are read; padding columns are masked
            # but must be finite (0 * NaN is NaN in attention).
            self._key_buffer = keys.new_empty(rows, heads, capacity, dim)
            self._value_buffer = values.new_empty(rows, values.shape[1], capacity,
                                                  values.shape[3])
            self._key_buffer[:, :, :left_zeros] = 0
            self._value_buffer[:, :, :left_zeros] = 0
            self._key_buffer[:, :, left_zeros:width] = keys
            self._value_buffer[:, :, left_zeros:width] = values
            self._end = width
            self._publish()

        def _publish(self) -> None:
            self.keys = self._key_buffer[:, :, :self._end]
            self.values = self._value_buffer[:, :, :self._end]

        def update(self, key_states, value_states, *args, **kwargs):
            if not self.is_initialized:
                self.device, self.is_initialized = key_states.device, True
                self._adopt(key_states, value_states)
                return self.keys, self.values
            end = self._end + key_states.shape[2]
            if end > self._key_buffer.shape[2]:
                self._adopt(self.keys, self.values, room=key_states.shape[2])
                end = self._end + key_states.shape[2]
            self._key_buffer[:, :, self._end:end] = key_states
            self._value_buffer[:, :, self._end:end] = value_states
            self._end = end
            self._publish()
            return self.keys, self.values

        def batch_select_indices(self, indices) -> None:
            self._adopt(self.keys[indices], self.values[indices])

        def left_pad(self, columns: int) -> None:
            self._adopt(self.keys, self.values, left_zeros=columns)

        def append_rows(self, other) -> None:
            import torch

            self._adopt(torch.cat([self.keys, other.keys]), torch.cat([self.values, other.values]))

        def select_columns(self, index) -> None:
            """Keep, for each row r, the columns index[r] (rows, width), in that order."""
            rows, heads, _, dim = self.keys.shape
            at = index[:, None, :, None]
            self._adopt(self.keys.gather(2, at.expand(rows, heads, -1, dim)),
                        self.values.gather(2, at.expand(rows, self.values.shape[1], -1,
                                                        self.values.shape[3])))

        def reset(self) -> None:
            self._key_buffer = self._value_buffer = None
            self._end = 0
            super().reset()

    return GrowingLayer


def _new_cache(layers: int, prefix=None, rows: int = 1):
    """A cache of ``layers`` growing layers (public ``transformers.Cache``), optionally holding
    ``prefix`` ((keys, values) per layer, one row) repeated for ``rows`` rows."""
    from transformers import Cache

    layer_class = _growing_layer_class()
    cache = Cache(layers=[layer_class() for _ in range(layers)])
    if prefix is not None:
        for layer, (keys, values) in zip(cache.layers, prefix):
            layer.update(keys.expand(rows, -1, -1, -1), values.expand(rows, -1, -1, -1))
    return cache


def _plain_cache_layers(model) -> int:
    """The number of attention layers, when every one is plain full attention (what the
    growing layers implement); raises _UnsupportedCache otherwise."""
    from transformers import DynamicCache, DynamicLayer

    try:
        probe = DynamicCache(config=model.config)
    except Exception as error:  # configs without what DynamicCache reads
        raise _UnsupportedCache(str(error)) from error
    if not probe.layers or any(type(layer) is not DynamicLayer for layer in probe.layers):
        raise _UnsupportedCache(", ".join(sorted({type(l).__name__ for l in probe.layers})))
    return len(probe.layers)


def _cache_argument(model) -> str:
    """transformers 5.x renames forward's ``past_key_values`` to ``cache`` (the old name is
    removed in 5.40); models written before the rename still take the old one."""
    import inspect

    parameters = inspect.signature(model.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def _left_pad_cache(cache, columns: int) -> None:
    if columns > 0:
        for layer in cache.layers:
            layer.left_pad(columns)


def _concat_caches(first, second) -> None:
    """Append the rows of ``second`` to ``first`` (same time length)."""
    for mine, theirs in zip(first.layers, second.layers):
        mine.append_rows(theirs)


def _compact_columns(cache, mask):
    """Drop the cache columns that every row's mask hides as far as the widest row allows
    (padding, and draft tokens the model rejected), keeping each row's columns in order and
    right-aligned; returns the new mask. A step reads every column of every row, so the
    columns a row does not attend to cost as much as those it does."""
    import torch

    width = int(mask.sum(dim=1).max())
    if width == mask.shape[1]:
        return mask
    # A stable sort of 0/1 puts a row's hidden columns first and its attended ones last, each
    # in order; the last `width` are its attended columns after some hidden (finite) ones.
    index = torch.argsort(mask.int(), dim=1, stable=True)[:, -width:]
    for layer in cache.layers:
        layer.select_columns(index)
    return mask.gather(1, index)


def _plan_windows(mask) -> list[tuple[int, int, int]]:
    """Row groups for attention.row_windows: each row's first column its mask shows."""
    return plan_windows(mask.argmax(dim=1).tolist(), mask.shape[1],
                        attention.WINDOW_COST_IN_COLUMNS)


@dataclass
class _Row:
    prompt_index: int
    sample_index: int
    tokens: list[int]
    finished: bool = False
    lookup: LookupIndex | None = None  # prompt and tokens so far, for drafts


class TransformersSampler:
    """Batched sampling with a transformers causal LM (see the module docstring)."""

    def __init__(self, model, tokenizer, *, add_special_tokens: bool = True,
                 engine: str = "auto"):
        if engine not in ("auto", "continuous", "generate"):
            raise ValueError(f"engine must be auto, continuous or generate, got {engine!r}")
        self.model = model
        self.tokenizer = tokenizer
        self.add_special_tokens = add_special_tokens
        self.engine = engine
        self.stats = SamplerStats()
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token

    def _eos_ids(self) -> list[int]:
        ids = self.model.generation_config.eos_token_id
        ids = [] if ids is None else ([ids] if isinstance(ids, int) else list(ids))
        if self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id not in ids:
            ids.append(self.tokenizer.eos_token_id)
        return ids

    def generate(self, prompts: Sequence[str], config: SamplingConfig,
                 is_done: Callable[[str], bool] | None = None, seed_key=0,
                 progress=None) -> list[list[Generation]]:
        """``config.n`` generations per prompt, in prompt order.

        ``is_done(text)`` ends a sequence early; ``seed_key`` makes the random stream a
        function of (config.seed, seed_key), so the same call gives the same samples.
        ``progress`` (a tqdm bar) advances by one per finished sequence."""
        token_ids = [self.tokenizer(prompt, add_special_tokens=self.add_special_tokens).input_ids
                     for prompt in prompts]
        for index, ids in enumerate(token_ids):
            if not ids:
                raise ValueError(f"prompt {index} encodes to no tokens")
        # Longest first, a prompt's samples together: admissions then hold similar lengths
        # (little padding) and repeated prompts (one prefill).
        requests = sorted(((index, sample) for index in range(len(prompts))
                           for sample in range(config.n)),
                          key=lambda item: (-len(token_ids[item[0]]), item[0], item[1]))
        results: dict[tuple[int, int], Generation] = {}
        was_training = self.model.training
        self.model.eval()
        began = time.perf_counter()
        try:
            if self.engine == "generate":
                self._generate_static(token_ids, requests, config, is_done, seed_key, progress,
                                      results)
            else:
                try:
                    with (in_place_gqa(self.model), sliced_output_layer(self.model),
                          transposed_projections(self.model)):
                        self._generate_continuous(token_ids, requests, config, is_done,
                                                  seed_key, progress, results)
                except _UnsupportedCache:
                    if self.engine == "continuous":
                        raise
                    results.clear()
                    self._generate_static(token_ids, requests, config, is_done, seed_key,
                                          progress, results)
        finally:
            self.stats.generate_seconds += time.perf_counter() - began
            self.model.train(was_training)
        return [[results[(index, sample)] for sample in range(config.n)]
                for index in range(len(prompts))]

    # -- continuous batching -------------------------------------------------------------------
    def _generate_continuous(self, token_ids, requests, config, is_done, seed_key, progress,
                             results) -> None:
        import torch

        model = self.model
        device = next(model.parameters()).device
        eos_ids = set(self._eos_ids())
        pad_id = self.tokenizer.pad_token_id
        greedy = config.temperature <= 0
        generator = torch.Generator(device=device)
        generator.manual_seed(derive_seed(config.seed, seed_key))

        def pick(logits):
            if greedy:
                return logits.argmax(dim=-1)
            return nucleus.sample(*nucleus.nucleus(logits, config.temperature, config.top_p),
                                  generator)

        self._layers = _plain_cache_layers(model)
        self._cache_arg = _cache_argument(model)
        acceptance = AcceptanceEstimate()
        prefix = self._shared_prefix(token_ids, device)
        queue = deque(requests)
        rows: list[_Row] = []
        cache = mask = lengths = pending = windows = None
        # Admitting a few sequences at a time costs a prefill each time; wait for a quarter
        # of the batch to free up unless the batch is empty.
        admit_at = max(1, config.batch_size // 4)
        while queue or rows:
            free = config.batch_size - len(rows)
            if queue and (not rows or free >= admit_at):
                admitted = [queue.popleft() for _ in range(min(free, len(queue)))]
                step_began = time.perf_counter()
                new_cache, new_mask, new_lengths, logits = self._prefill(
                    [token_ids[index] for index, _ in admitted], pad_id, device, prefix)
                new_pending = pick(logits)
                first_new = len(rows)  # only the admitted rows got a token this round
                new_tokens = [[token] for token in new_pending.tolist()]
                prefilled = True
                rows += [_Row(index, sample, [], lookup=LookupIndex(token_ids[index])
                              if config.draft_tokens else None) for index, sample in admitted]
                if cache is None:
                    cache, mask, lengths, pending = new_cache, new_mask, new_lengths, new_pending
                else:
                    width = max(mask.shape[1], new_mask.shape[1])
                    _left_pad_cache(cache, width - mask.shape[1])
                    _left_pad_cache(new_cache, width - new_mask.shape[1])
                    _concat_caches(cache, new_cache)
                    mask = torch.cat([
                        torch.nn.functional.pad(mask, (width - mask.shape[1], 0)),
                        torch.nn.functional.pad(new_mask, (width - new_mask.shape[1], 0))])
                    lengths = torch.cat([lengths, new_lengths])
                    pending = torch.cat([pending, new_pending])
                windows = _plan_windows(mask)
                self.stats.batches += 1
                self.stats.prefill_seconds += time.perf_counter() - step_began
            else:
                step_began = time.perf_counter()
                drafts, draft_width = self._drafts(rows, config, acceptance)
                mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1 + draft_width)], dim=1)
                fed = pending[:, None]
                if draft_width:
                    draft_lengths = torch.tensor([len(d) for d in drafts], device=device)
                    guesses = torch.tensor(
                        [d + [pad_id] * (draft_width - len(d)) for d in drafts], device=device)
                    fed = torch.cat([fed, guesses], dim=1)
                positions = lengths[:, None] + torch.arange(1 + draft_width, device=device)
                with torch.no_grad(), row_windows(windows):
                    output = model(input_ids=fed, attention_mask=mask, position_ids=positions,
                                   use_cache=True, **{self._cache_arg: cache})
                if draft_width:
                    if greedy:
                        kept, pending = verify_greedy(output.logits, guesses, draft_lengths)
                    else:
                        probs, ids = nucleus.nucleus(output.logits, config.temperature,
                                                     config.top_p)
                        kept, pending = verify_sampled(probs, guesses, draft_lengths, generator,
                                                       ids)
                    # Rejected guesses stay in the cache as holes the mask hides.
                    fed_columns = torch.arange(1 + draft_width, device=device)
                    mask[:, -(1 + draft_width):] = (fed_columns[None, :]
                                                    <= kept[:, None]).to(mask.dtype)
                    lengths = lengths + 1 + kept
                    kept_list = kept.tolist()
                    acceptance.update(kept_list, draft_lengths.tolist())
                    new_tokens = [d[:j] + [t]
                                  for d, j, t in zip(drafts, kept_list, pending.tolist())]
                    self.stats.draft_tokens += sum(map(len, drafts))
                    self.stats.draft_kept += sum(kept_list)
                else:
                    lengths = lengths + 1
                    pending = pick(output.logits[:, -1])
                    new_tokens = [[token] for token in pending.tolist()]
                first_new, prefilled = 0, False
                stats = self.stats
                stats.decode_steps += 1
                stats.decode_seconds += time.perf_counter() - step_began
                stats.decode_rows += len(rows)
                stats.decode_live_rows += sum(not row.finished for row in rows)
                stats.decode_columns += mask.shape[1]
                stats.read_columns += sum((end - begin) * (mask.shape[1] - column)
                                          for begin, end, column in windows) / len(rows)
                stats.draft_columns += draft_width
            # Rows from first_new on have new tokens; the last one (pending) is not yet
            # in the cache.
            decoded = 0
            for row, tokens in zip(rows[first_new:], new_tokens):
                if row.finished:
                    continue
                before = len(row.tokens)
                finish = None
                for token in tokens:
                    row.tokens.append(token)
                    if token in eos_ids:
                        finish = "stop"
                    elif is_done is not None and is_done(
                            self.tokenizer.decode(row.tokens, skip_special_tokens=True)):
                        finish = "stop"
                    elif len(row.tokens) >= config.max_new_tokens:
                        finish = "length"
                    if finish is not None:
                        break
                decoded += len(row.tokens) - before
                if row.lookup is not None:
                    row.lookup.append(row.tokens[before:])
                if finish is None:
                    continue
                row.finished = True
                text = self.tokenizer.decode(row.tokens, skip_special_tokens=True)
                results[(row.prompt_index, row.sample_index)] = Generation(
                    text=text, n_tokens=len(row.tokens), finish=finish)
                self.stats.generated_tokens += len(row.tokens)
                if progress is not None:
                    progress.update(1)
            if not prefilled:
                self.stats.decode_tokens += decoded
            keep = [position for position, row in enumerate(rows) if not row.finished]
            # Dropping rows copies the whole cache, so finished rows stay (computed, ignored)
            # until queued prompts can take their places or they are a quarter of the batch.
            finished = len(rows) - len(keep)
            admitting = queue and config.batch_size - len(keep) >= admit_at
            if not finished or not (admitting or not keep or 4 * finished >= len(rows)):
                continue
            if not keep:
                rows, cache, mask, lengths, pending, windows = [], None, None, None, None, None
                continue
            # Longest rows first (a stable order otherwise): after compaction each row's
            # columns end at the right, so rows of similar length sit together and
            # row_windows' groups skip most of the padding.
            attended = mask.sum(dim=1).tolist()
            keep.sort(key=lambda position: -attended[position])
            rows = [rows[i] for i in keep]
            index = torch.tensor(keep, device=device)
            cache.batch_select_indices(index)
            mask, lengths, pending = mask[index], lengths[index], pending[index]
            mask = _compact_columns(cache, mask)
            windows = _plan_windows(mask)

    @staticmethod
    def _drafts(rows: list[_Row], config: SamplingConfig,
                acceptance: AcceptanceEstimate) -> tuple[list[list[int]], int]:
        """Each row's draft for this step, cut to the step's draft width (see
        drafting.step_draft_length), and that width; ([], 0) when drafting does not pay."""
        if not config.draft_tokens:
            return [], 0
        drafts = [[] if row.finished else row.lookup.draft(
            min(config.draft_tokens, config.max_new_tokens - len(row.tokens) - 1))
            for row in rows]
        live = sum(not row.finished for row in rows)
        width = step_draft_length([len(d) for d in drafts], live, acceptance.value,
                                  config.draft_tokens)
        return ([d[:width] for d in drafts], width) if width else ([], 0)

    def _shared_prefix(self, token_ids: list[list[int]], device):
        """KV cache of the longest token prefix common to all prompts (chat templates start
        with the same system turn and instruction), computed once per call; None when too
        short to be worth it. At least one token of every prompt is left to prefill."""
        import os

        import torch

        length = min(len(os.path.commonprefix(token_ids)), min(map(len, token_ids)) - 1)
        if length < MIN_SHARED_PREFIX:
            return None
        cache = _new_cache(self._layers)
        with torch.no_grad():
            self.model(input_ids=torch.tensor([token_ids[0][:length]], device=device),
                       use_cache=True, logits_to_keep=1, **{self._cache_arg: cache})
        return [(layer.keys, layer.values) for layer in cache.layers]

    def _prefill(self, rows: list[list[int]], pad_id: int, device, prefix=None):
        """Prefill the distinct prompts of an admission once and expand to one cache row per
        request. With a shared ``prefix`` only the suffixes are computed; the padding then
        sits between prefix and suffix, which the attention mask hides and the positions skip.
        Prompts of similar length prefill together (see ``PREFILL_MIN_FILL``) and the pieces
        are merged. Returns (cache, attention mask, real lengths, last-position logits)."""
        import torch

        distinct = list(dict.fromkeys(tuple(row) for row in rows))
        start = 0 if prefix is None else prefix[0][0].shape[2]
        suffixes = [row[start:] for row in distinct]
        chunks = _length_chunks([len(suffix) for suffix in suffixes])
        pieces = [self._prefill_padded([suffixes[i] for i in chunk], pad_id, device, prefix)
                  for chunk in chunks]
        width = max(piece_mask.shape[1] for _, piece_mask, _ in pieces)
        cache = None
        for piece_cache, piece_mask, _ in pieces:
            _left_pad_cache(piece_cache, width - piece_mask.shape[1])
            if cache is None:
                cache = piece_cache
            else:
                _concat_caches(cache, piece_cache)
        mask = torch.cat([torch.nn.functional.pad(piece_mask, (width - piece_mask.shape[1], 0))
                          for _, piece_mask, _ in pieces])
        logits = torch.cat([piece_logits for _, _, piece_logits in pieces])
        # Pieces are left-padded to the widest, so rows of a shorter piece start further right
        # and row_windows can skip their padding; compaction also moves the padding between a
        # shared prefix and the suffix to the left where the widest row leaves room.
        mask = _compact_columns(cache, mask)
        merged_order = [i for chunk in chunks for i in chunk]
        position = {distinct_index: at for at, distinct_index in enumerate(merged_order)}
        where = {row: position[index] for index, row in enumerate(distinct)}
        picked = [where[tuple(row)] for row in rows]
        index = torch.tensor(picked, device=device)
        if picked != list(range(len(merged_order))):
            cache.batch_select_indices(index)
        lengths = torch.tensor([len(row) for row in rows], device=device)
        return cache, mask[index], lengths, logits[index]

    def _prefill_padded(self, suffixes: list[list[int]], pad_id: int, device, prefix):
        """One left-padded forward over ``suffixes`` (after the shared prefix, if any):
        (cache, attention mask, last-position logits)."""
        import torch

        start = 0 if prefix is None else prefix[0][0].shape[2]
        width = max(len(row) for row in suffixes)
        input_ids = torch.tensor([[pad_id] * (width - len(row)) + list(row) for row in suffixes],
                                 device=device)
        mask = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in suffixes],
                            device=device)
        # Positions count real tokens only, as generate does for left padding.
        positions = start + (mask.cumsum(-1) - 1).clamp(min=0)
        cache = _new_cache(self._layers, prefix, rows=len(suffixes))
        if prefix is not None:
            mask = torch.cat([mask.new_ones(len(suffixes), start), mask], dim=1)
        with torch.no_grad():
            output = self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions,
                                use_cache=True, logits_to_keep=1, **{self._cache_arg: cache})
        return cache, mask, output.logits[:, -1]

    # -- fallback: batched model.generate --------------------------------------------------------
    def _generate_static(self, token_ids, requests, config, is_done, seed_key, progress,
                         results) -> None:
        import torch

        model, tokenizer = self.model, self.tokenizer
        eos_ids = set(self._eos_ids())
        pad_id = tokenizer.pad_token_id
        device = next(model.parameters()).device
        for batch_index, start in enumerate(range(0, len(requests), config.batch_size)):
            batch = requests[start:start + config.batch_size]
            rows = [token_ids[index] for index, _ in batch]
            width = max(len(row) for row in rows)
            input_ids = torch.tensor([[pad_id] * (width - len(row)) + row for row in rows],
                                     device=device)
            attention_mask = torch.tensor(
                [[0] * (width - len(row)) + [1] * len(row) for row in rows], device=device)
            kwargs = dict(max_new_tokens=config.max_new_tokens, use_cache=True,
                          pad_token_id=pad_id, eos_token_id=sorted(eos_ids) or None)
            if config.temperature <= 0:
                kwargs.update(do_sample=False)
            else:
                # top_k=0 switches off the top-50 default: nucleus sampling only, as in the
                # pass@k literature.
                kwargs.update(do_sample=True, temperature=config.temperature,
                              top_p=config.top_p, top_k=0)
            if is_done is not None:
                kwargs["stopping_criteria"] = [
                    _make_text_stopping_criteria(tokenizer, width, is_done)]
            torch.manual_seed(derive_seed(config.seed, seed_key, batch_index))
            with torch.no_grad():
                output = model.generate(input_ids=input_ids, attention_mask=attention_mask,
                                        **kwargs)
            self.stats.batches += 1
            for (index, sample), tokens in zip(batch, output[:, width:].tolist()):
                generation = self._finish(tokens, eos_ids, pad_id, config, is_done)
                self.stats.generated_tokens += generation.n_tokens
                results[(index, sample)] = generation
            if progress is not None:
                progress.update(len(batch))

    def _finish(self, tokens: list[int], eos_ids: set[int], pad_id, config: SamplingConfig,
                is_done) -> Generation:
        # A finished row is padded with pad_id (== EOS for many models) up to the batch's
        # length: the first EOS ends the sequence and what follows is padding.
        length, hit_eos = len(tokens), False
        for position, token in enumerate(tokens):
            if token in eos_ids:
                length, hit_eos = position + 1, True
                break
        if not hit_eos and pad_id is not None and pad_id not in eos_ids:
            while length and tokens[length - 1] == pad_id:
                length -= 1
        text = self.tokenizer.decode(tokens[:length], skip_special_tokens=True)
        stopped = hit_eos or (is_done is not None and is_done(text)) \
            or length < config.max_new_tokens
        return Generation(text=text, n_tokens=length, finish="stop" if stopped else "length")


def _make_text_stopping_criteria(tokenizer, prompt_width: int, is_done: Callable[[str], bool]):
    import torch
    from transformers import StoppingCriteria

    class TextStop(StoppingCriteria):
        """Per-sequence stop on the decoded continuation; decodes only unfinished rows."""

        def __init__(self):
            self.done: torch.Tensor | None = None

        def __call__(self, input_ids, scores, **kwargs):
            if self.done is None or self.done.shape[0] != input_ids.shape[0]:
                self.done = torch.zeros(input_ids.shape[0], dtype=torch.bool,
                                        device=input_ids.device)
            pending = (~self.done).nonzero().flatten().tolist()
            if pending:
                texts = tokenizer.batch_decode(input_ids[pending, prompt_width:],
                                               skip_special_tokens=True)
                for row, text in zip(pending, texts):
                    if is_done(text):
                        self.done[row] = True
            return self.done.clone()

    return TextStop()
