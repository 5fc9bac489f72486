"""Batches of whole groups, laid out so that only completion tokens enter the loss.

Two layouts give the same log-probs:

* shared prompt (default): one row per group, ``prompt, c_1, c_2, ..., c_k``. A block mask lets
  every completion attend to the prompt and to itself only, and position ids restart after the
  prompt for each completion, so completion i sees exactly what it would see after the prompt
  alone. The prompt is computed once instead of k times, and no completion is padded to the
  longest of its group.
* one row per completion, ``prompt, c_i``, right-padded (``share_prompt=False``), for attention
  kernels that cannot take a custom mask.

Either way the batch names, for every completion token, the row and position whose logits
predict it (``source_row``, ``source_pos``), so the loss never looks at prompt or padding.
A completion's last token (EOS) is only ever a target, so it is not fed as input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class GroupCollator:
    pad_token_id: int
    share_prompt: bool = True

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return collate_groups(features, pad_token_id=self.pad_token_id,
                              share_prompt=self.share_prompt)


def collate_groups(features: list[dict[str, Any]], *, pad_token_id: int,
                   share_prompt: bool = True) -> dict[str, torch.Tensor]:
    rows_ids: list[list[int]] = []
    rows_pos: list[list[int]] = []
    rows_seg: list[list[int]] = []
    targets: list[list[int]] = []
    source_row: list[int] = []
    source_pos: list[list[int]] = []
    group_index: list[int] = []
    advantages: list[float] = []
    rewards: list[float] = []
    ref_logps: list[list[float]] = []
    has_ref = all("ref_logps" in f and f["ref_logps"] is not None for f in features)
    num_tokens = 0
    for g, feature in enumerate(features):
        prompt = list(feature["prompt_ids"])
        p = len(prompt)
        if share_prompt:
            ids, pos, seg = list(prompt), list(range(p)), [0] * p
        for i, completion in enumerate(feature["completion_ids"]):
            completion = list(completion)
            t = len(completion)
            if t == 0:
                raise ValueError(f"group {feature.get('group_id', g)}: empty completion {i}")
            if share_prompt:
                start = len(ids)
                ids += completion[:-1]
                pos += range(p, p + t - 1)
                seg += [i + 1] * (t - 1)
                source_row.append(g)
                source_pos.append([p - 1] + list(range(start, start + t - 1)))
            else:
                rows_ids.append(prompt + completion[:-1])
                rows_pos.append(list(range(p + t - 1)))
                source_row.append(len(rows_ids) - 1)
                source_pos.append(list(range(p - 1, p + t - 1)))
            targets.append(completion)
            group_index.append(g)
            num_tokens += p + t
        if share_prompt:
            rows_ids.append(ids)
            rows_pos.append(pos)
            rows_seg.append(seg)
        advantages += [float(a) for a in feature["advantages"]]
        rewards += [float(r) for r in feature["rewards"]]
        if has_ref:
            ref_logps += [list(map(float, x)) for x in feature["ref_logps"]]

    length = max(len(r) for r in rows_ids)
    width = max(len(t) for t in targets)
    batch = {
        "input_ids": _pad(rows_ids, length, pad_token_id),
        "position_ids": _pad(rows_pos, length, 0),
        "target_ids": _pad(targets, width, 0),
        "target_mask": _pad([[1] * len(t) for t in targets], width, 0).bool(),
        "source_row": torch.tensor(source_row, dtype=torch.long),
        "source_pos": _pad(source_pos, width, 0),
        "group_index": torch.tensor(group_index, dtype=torch.long),
        "advantages": torch.tensor(advantages, dtype=torch.float32),
        "rewards": torch.tensor(rewards, dtype=torch.float32),
        "num_tokens": torch.tensor(num_tokens, dtype=torch.long),
    }
    if share_prompt:
        batch["segment_ids"] = _pad(rows_seg, length, -1)
    else:
        batch["attention_mask"] = _pad([[1] * len(r) for r in rows_ids], length, 0)
    if has_ref:
        batch["ref_logps"] = _pad(ref_logps, width, 0.0, dtype=torch.float32)
    if len(advantages) != len(targets) or (has_ref and len(ref_logps) != len(targets)):
        raise ValueError("every completion needs exactly one advantage (and reference log-probs)")
    return batch


def _pad(rows, length: int, value, dtype=torch.long) -> torch.Tensor:
    out = torch.full((len(rows), length), value, dtype=dtype)
    for i, row in enumerate(rows):
        if len(row):
            out[i, :len(row)] = torch.as_tensor(row, dtype=dtype)
    return out


def block_attention_mask(segment_ids: torch.Tensor) -> torch.Tensor:
    """(R, 1, L, L) boolean mask, True where query q may attend to key k: causal, and the key
    is in the prompt (segment 0) or in the query's own completion. Padding (segment -1)
    attends to itself only, so no row of the mask is empty (an empty row makes SDPA emit NaN)."""
    length = segment_ids.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool, device=segment_ids.device).tril()
    query = segment_ids.unsqueeze(2)
    key = segment_ids.unsqueeze(1)
    allowed = causal & ((key == 0) | (key == query)) & (query >= 0)
    eye = torch.eye(length, dtype=torch.bool, device=segment_ids.device)
    allowed = allowed | (eye & (query < 0))
    return allowed.unsqueeze(1)
