"""Turn reward-labelled groups into what the trainer eats: token ids and advantages.

Input rows (from ``ocrl.dataset.load_groups``): group_id, problem_id, prompt, style,
completions, rewards, statuses. Output rows: group_id, problem_id, prompt_ids (the prompt once),
completion_ids (one list per kept completion, EOS appended), rewards, advantages.

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


@dataclass
class GroupStats:
    groups_in: int = 0
    samples_in: int = 0
    groups_zero_variance: int = 0
    groups_dropped: int = 0
    samples_dropped: int = 0
    groups_kept: int = 0
    samples_kept: int = 0
    prompts_truncated: int = 0
    completions_truncated: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def encode_group_texts(tokenizer, prompt_text: str, targets: list[str], *, add_special: bool,
                       max_prompt_length: int, max_completion_length: int):
    """Token ids of one prompt and its completions, truncated; returns (ids, ids, flags)."""
    prompt_ids = tokenizer(prompt_text, add_special_tokens=add_special)["input_ids"]
    prompt_cut = len(prompt_ids) > max_prompt_length
    if prompt_cut:
        # The end of a prompt (the signature, the chat template's assistant header) is what
        # the completion continues from, so that is what survives.
        prompt_ids = prompt_ids[-max_prompt_length:]
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("the tokenizer has no EOS token; completions need one to end")
    completion_ids, cut = [], []
    for target in targets:
        ids = tokenizer(target, add_special_tokens=False)["input_ids"] + [eos]
        cut.append(len(ids) > max_completion_length)
        completion_ids.append(ids[:max_completion_length])
    return prompt_ids, completion_ids, prompt_cut, cut


def prepare_groups(groups, tokenizer, *, prompt_format: str, advantage: str = "rloo",
                   advantage_eps: float = 1e-4, advantage_clip: float | None = None,
                   zero_advantage: str = "drop_groups", max_prompt_length: int = 512,
                   max_completion_length: int = 512, source: str = "groups"):
    """Tokenize groups and attach advantages; returns (datasets.Dataset, GroupStats)."""
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
        r = torch.tensor([float(x) for x in rewards], dtype=torch.float64)
        a = compute_advantages(r, torch.zeros(len(r), dtype=torch.long), advantage,
                               eps=advantage_eps, clip=advantage_clip)
        if bool((r == r[0]).all()):
            stats.groups_zero_variance += 1
        keep = list(range(len(completions)))
        if zero_advantage in ("drop_groups", "drop_samples") and bool((a == 0).all()):
            keep = []
        elif zero_advantage == "drop_samples":
            keep = [i for i in keep if a[i] != 0]
        stats.samples_dropped += len(completions) - len(keep)
        if not keep:
            stats.groups_dropped += 1
            continue
        style = row.get("style") or "assert"
        prompt_text = prompting.build_prompt(tokenizer, row["prompt"], prompt_format, style)
        targets = [prompting.build_target(row["prompt"], completions[i], prompt_format, style)
                   for i in keep]
        prompt_ids, completion_ids, prompt_cut, cut = encode_group_texts(
            tokenizer, prompt_text, targets, add_special=add_special,
            max_prompt_length=max_prompt_length, max_completion_length=max_completion_length)
        stats.prompts_truncated += int(prompt_cut)
        stats.completions_truncated += sum(cut)
        stats.groups_kept += 1
        stats.samples_kept += len(keep)
        rows["group_id"].append(str(row.get("group_id", index)))
        rows["problem_id"].append(str(row.get("problem_id", "")))
        rows["prompt_ids"].append(prompt_ids)
        rows["completion_ids"].append(completion_ids)
        rows["rewards"].append([float(r[i]) for i in keep])
        rows["advantages"].append([float(a[i]) for i in keep])
    if stats.groups_kept == 0:
        raise InputError(f"no group left to train on ({stats.groups_in} groups read, "
                         f"{stats.groups_dropped} dropped by zero_advantage={zero_advantage}; "
                         f"{stats.groups_zero_variance} had all rewards equal)", path=source)
    return Dataset.from_dict(rows), stats
