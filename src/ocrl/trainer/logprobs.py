"""Per-token log-probs of completion tokens, from one forward pass over a collated batch."""

from __future__ import annotations

import inspect

import torch

from ocrl.trainer.collator import block_attention_mask

# Attention implementations that take an arbitrary 4D mask (needed by the shared-prompt layout).
CUSTOM_MASK_ATTENTION = ("sdpa", "eager")


def _unwrap(model):
    while hasattr(model, "module"):  # DDP, DeepSpeed engines
        model = model.module
    return model


def attention_implementation(model) -> str:
    config = getattr(_unwrap(model), "config", None)
    return str(getattr(config, "_attn_implementation", None) or "eager")


def accepts_logits_to_keep(model) -> bool:
    base = _unwrap(model)
    if hasattr(base, "get_base_model"):  # peft
        base = base.get_base_model()
    return "logits_to_keep" in inspect.signature(base.forward).parameters


def model_inputs(model, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The keyword arguments of the model's forward for this batch's layout."""
    inputs = {"input_ids": batch["input_ids"], "position_ids": batch["position_ids"],
              "use_cache": False}
    if "segment_ids" in batch:
        implementation = attention_implementation(model)
        if implementation not in CUSTOM_MASK_ATTENTION:
            raise ValueError(f"share_prompt needs an attention implementation that takes a custom "
                             f"mask ({', '.join(CUSTOM_MASK_ATTENTION)}); this model uses "
                             f"{implementation!r}. Pass --share_prompt false.")
        allowed = block_attention_mask(batch["segment_ids"])
        if implementation == "eager":
            dtype = next(_unwrap(model).parameters()).dtype
            mask = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
            inputs["attention_mask"] = mask.masked_fill(~allowed, torch.finfo(dtype).min)
        else:
            inputs["attention_mask"] = allowed
    else:
        inputs["attention_mask"] = batch["attention_mask"]
    return inputs


# Largest fp32 slice of half-precision logits upcast at once (elements; 256 MiB).
UPCAST_CHUNK_ELEMENTS = 1 << 26


def _chunk_log_norm(chunk: torch.Tensor) -> torch.Tensor:
    return torch.logsumexp(chunk.float(), dim=-1)


def log_normalizer(logits: torch.Tensor) -> torch.Tensor:
    """logsumexp over the vocabulary in float32, shape (N, L).

    Half-precision logits are upcast a slice of positions at a time: ``logits.float()`` whole
    would be an fp32 copy of (N, L, vocab), 1.2 GB for 4 x 1024 tokens of a 150k vocabulary.
    With gradients each slice is checkpointed, so backward re-does its upcast instead of
    keeping every fp32 slice alive until then."""
    if logits.dtype not in (torch.bfloat16, torch.float16):
        return torch.logsumexp(logits, dim=-1)  # fp32 already: no copy is made
    rows, length, vocab = logits.shape
    step = max(1, UPCAST_CHUNK_ELEMENTS // max(1, rows * vocab))
    parts = []
    for start in range(0, length, step):
        chunk = logits[:, start:start + step]
        if torch.is_grad_enabled() and chunk.requires_grad:
            from torch.utils.checkpoint import checkpoint

            parts.append(checkpoint(_chunk_log_norm, chunk, use_reentrant=False))
        else:
            parts.append(_chunk_log_norm(chunk))
    return torch.cat(parts, dim=1)


def completion_logps(model, batch: dict[str, torch.Tensor], *,
                     logits_to_keep: bool | None = None) -> torch.Tensor:
    """(N, T) float32 log-probs of each completion's tokens; 0 on padding.

    Only the positions from the first predicting one onwards go through the LM head (the
    prompt's logits are never needed), and the log-softmax is taken as logit - logsumexp,
    with the logsumexp upcast in slices (`log_normalizer`), so that no (N, T, vocab) float32
    copy of half-precision logits is made."""
    target_mask = batch["target_mask"]
    source_pos = batch["source_pos"]
    length = batch["input_ids"].shape[1]
    if logits_to_keep is None:
        logits_to_keep = accepts_logits_to_keep(model)
    first = int(source_pos[target_mask].min()) if logits_to_keep and target_mask.any() else 0
    inputs = model_inputs(model, batch)
    if logits_to_keep:
        inputs["logits_to_keep"] = length - first
    logits = model(**inputs).logits
    positions = (source_pos - first).clamp(min=0)
    rows = batch["source_row"].unsqueeze(1).expand_as(positions)
    log_norm = log_normalizer(logits)
    target_logits = logits[rows, positions, batch["target_ids"]].float()
    logp = target_logits - log_norm[rows, positions]
    return logp * target_mask
