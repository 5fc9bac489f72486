"""Turn reward-labelled groups into what the trainer eats: token ids and advantages.

Input rows (from ``ocrl.dataset.load_groups``): group_id, problem_id, prompt, style,
completions, rewards, statuses; or, from `ocrl.trainer.rows`, ``prompt_text`` and ``targets``
(texts used verbatim) in place of prompt and style. Output rows: group_id, problem_id,
prompt_ids (the prompt once), completion_ids (one list per kept completion, EOS appended),
rewards, advantages.

Advantages depend only on a group's own rewards, which never change in offline RL, so they
are computed once here rather than at every step; that also lets groups that carry no
learning signal be dropped (and counted) before any compute is spent on them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

from ocrl.algos.advantages import compute_advantages
from ocrl.errors import InputError
from ocrl.grouping import is_zero_advantage, is_zero_variance


@dataclass
class GroupStats:
    groups_in: int = 0
    samples_in: int = 0
    groups_zero_variance: int = 0
    groups_dropped: int = 0
    samples_dropped: int = 0
    groups_kept: int = 0
    samples_kept: int = 0
    # Over-long text is dropped, never cut: a cut answer never closes its code block or emits
    # EOS, and training on it teaches the model to run on (issue 11).
    groups_dropped_prompt_too_long: int = 0
    completions_dropped_too_long: int = 0
    longest_prompt_tokens: int = 0
    longest_completion_tokens: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def encode_group_texts(tokenizer, prompt_text: str, targets: list[str], *, add_special: bool):
    """Token ids of one prompt and its whole completions (EOS appended to each)."""
    prompt_ids = tokenizer(prompt_text, add_special_tokens=add_special)["input_ids"]
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("the tokenizer has no EOS token; completions need one to end")
    completion_ids = [tokenizer(target, add_special_tokens=False)["input_ids"] + [eos]
                      for target in targets]
    return prompt_ids, completion_ids


def prepare_groups(groups, tokenizer, *, prompt_format: str, advantage: str = "rloo",
                   advantage_eps: float = 1e-4, advantage_clip: float | None = None,
                   zero_advantage: str = "drop_groups", max_prompt_length: int = 512,
                   max_completion_length: int = 512, source: str = "groups"):
    """Tokenize groups and attach advantages; returns (datasets.Dataset, GroupStats).

    A group whose prompt has more than ``max_prompt_length`` tokens is dropped, and so is a
    completion with more than ``max_completion_length`` (EOS included); both are counted.
    Advantages are computed over the completions that remain, so they are exactly those of
    the samples trained on."""
    from datasets import Dataset

    from ocrl import prompting

    add_special = prompting.add_special_tokens(prompt_format)
    stats = GroupStats()
    rows: dict[str, list[Any]] = {name: [] for name in (
        "group_id", "problem_id", "prompt_ids", "completion_ids", "rewards", "advantages")}
    for index, row in enumerate(groups):
        completions, rewards = row["completions"], row["rewards"]
        if len(completions) != len(rewards):
            raise InputError(f"{len(completions)} completions but {len(rewards)} rewards",
                             path=source, line=index + 1, field="rewards")
        if not completions:
            continue
        stats.groups_in += 1
        stats.samples_in += len(completions)
        rewards = [float(x) for x in rewards]
        stats.groups_zero_variance += int(is_zero_variance(rewards))
        if row.get("prompt_text") is not None:  # texts given verbatim (ocrl.trainer.rows)
            prompt_text, targets = row["prompt_text"], list(row["targets"])
        else:  # a problem statement and logged code: rendered in the prompt format
            style = row.get("style") or "assert"
            prompt_text = prompting.build_prompt(tokenizer, row["prompt"], prompt_format, style)
            targets = [prompting.build_target(row["prompt"], c, prompt_format, style)
                       for c in completions]
        prompt_ids, completion_ids = encode_group_texts(tokenizer, prompt_text, targets,
                                                        add_special=add_special)
        stats.longest_prompt_tokens = max(stats.longest_prompt_tokens, len(prompt_ids))
        stats.longest_completion_tokens = max(stats.longest_completion_tokens,
                                              *map(len, completion_ids))
        if len(prompt_ids) > max_prompt_length:
            stats.groups_dropped_prompt_too_long += 1
            stats.samples_dropped += len(completions)
            stats.groups_dropped += 1
            continue
        fits = [i for i, ids in enumerate(completion_ids) if len(ids) <= max_completion_length]
        stats.completions_dropped_too_long += len(completions) - len(fits)
        keep = fits
        if fits:
            r = torch.tensor([rewards[i] for i in fits], dtype=torch.float64)
            a = compute_advantages(r, torch.zeros(len(r), dtype=torch.long), advantage,
                                   eps=advantage_eps, clip=advantage_clip).tolist()
            position = {i: j for j, i in enumerate(fits)}
            if zero_advantage in ("drop_groups", "drop_samples") and is_zero_advantage(a):
                keep = []
            elif zero_advantage == "drop_samples":
                keep = [i for i in fits if not is_zero_advantage([a[position[i]]])]
        stats.samples_dropped += len(completions) - len(keep)
        if not keep:
            stats.groups_dropped += 1
            continue
        stats.groups_kept += 1
        stats.samples_kept += len(keep)
        rows["group_id"].append(str(row.get("group_id", index)))
        rows["problem_id"].append(str(row.get("problem_id", "")))
        rows["prompt_ids"].append(prompt_ids)
        rows["completion_ids"].append([completion_ids[i] for i in keep])
        rows["rewards"].append([rewards[i] for i in keep])
        rows["advantages"].append([float(a[position[i]]) for i in keep])
    if stats.groups_kept == 0:
        raise InputError(f"no group left to train on ({stats.groups_in} groups read, "
                         f"{stats.groups_dropped} dropped: {stats.groups_zero_variance} had all "
                         f"rewards equal (zero_advantage={zero_advantage}), "
                         f"{stats.groups_dropped_prompt_too_long} had a prompt over "
                         f"max_prompt_length={max_prompt_length}, "
                         f"{stats.completions_dropped_too_long} completions were over "
                         f"max_completion_length={max_completion_length})", path=source)
    return Dataset.from_dict(rows), stats
