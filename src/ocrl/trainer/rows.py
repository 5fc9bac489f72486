"""Logged completions as TRL users hold them, turned into ocrl's groups.

Rows carry ``prompt`` (a string, or a list of chat messages as in TRL's conversational format),
``completion`` (a string, or the assistant message / list of messages) and ``reward`` (a finite
number), plus an optional ``group``. Rows with the same ``group`` (without that column: the
same prompt) form one group, whose rewards give the advantages. Texts are used as given, as
TRL does: a string prompt is the model's input verbatim; a conversational prompt goes through
the tokenizer's chat template with the assistant header appended, and the completion is the
assistant's content. EOS is appended to every completion by `prepare_groups`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ocrl.errors import InputError
from ocrl.prompting import CHAT, PLAIN
from ocrl.rewards import is_finite_number

REQUIRED_COLUMNS = ("prompt", "completion", "reward")


def is_logged_rows(data) -> bool:
    """Does ``data`` (a datasets.Dataset or a list of dicts) hold TRL-style rows?"""
    columns = getattr(data, "column_names", None)
    if columns is None:
        first = next(iter(data), None) if isinstance(data, list) else None
        columns = list(first) if isinstance(first, dict) else []
    return "completion" in columns and "completions" not in columns


def _message_text(value: Any, *, where: dict) -> str:
    """The assistant text of a completion given as a string, a message or messages."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        value = [value]
    if isinstance(value, list) and all(isinstance(m, dict) and "content" in m for m in value):
        return "".join(str(m["content"]) for m in value if m.get("role", "assistant") ==
                       "assistant")
    raise InputError("must be a string or an assistant message ({'role': 'assistant', "
                     f"'content': ...}}), got {type(value).__name__}", **where)


def _prompt_text(value: Any, tokenizer, *, where: dict) -> tuple[str, str]:
    """(text the model is conditioned on, its format)."""
    if isinstance(value, str):
        return value, PLAIN
    if isinstance(value, list) and value and all(isinstance(m, dict) and "role" in m and
                                                 "content" in m for m in value):
        if not getattr(tokenizer, "chat_template", None):
            raise InputError("is a list of chat messages, but the tokenizer has no chat "
                             "template", **where)
        return tokenizer.apply_chat_template(value, tokenize=False,
                                             add_generation_prompt=True), CHAT
    raise InputError("must be a string or a non-empty list of chat messages "
                     "({'role': ..., 'content': ...})", **where)


def groups_from_rows(rows: Iterable[dict], tokenizer, *, allow_single: bool = False,
                     source: str = "train_dataset") -> tuple[list[dict], str]:
    """(groups as `prepare_groups` takes them, with their texts verbatim; the prompt format).

    Every problem is reported with the row (1-based) and the column it is in."""
    groups: dict[str, dict] = {}
    formats: set[str] = set()
    for index, row in enumerate(rows):
        line = index + 1
        missing = [c for c in REQUIRED_COLUMNS if c not in row]
        if missing:
            raise InputError(f"missing column {missing[0]!r} (rows need "
                             f"{', '.join(REQUIRED_COLUMNS)}; optional: group)",
                             path=source, row=line, column=missing[0])
        reward = row["reward"]
        if not is_finite_number(reward):
            raise InputError(f"must be a finite number, got {reward!r}", path=source,
                             row=line, column="reward")
        prompt_text, fmt = _prompt_text(row["prompt"], tokenizer,
                                        where=dict(path=source, row=line, column="prompt"))
        formats.add(fmt)
        if len(formats) > 1:
            raise InputError("mixes string prompts and chat-message prompts; use one kind",
                             path=source, row=line, column="prompt")
        completion = _message_text(row["completion"],
                                   where=dict(path=source, row=line, column="completion"))
        if not completion.strip():
            raise InputError("is empty: a group member needs a completion to learn from",
                             path=source, row=line, column="completion")
        key = str(row["group"]) if row.get("group") is not None else prompt_text
        group = groups.setdefault(key, {"group_id": key if row.get("group") is not None
                                        else f"group-{len(groups)}",
                                        "problem_id": key, "prompt_text": prompt_text,
                                        "targets": [], "completions": [], "rewards": [],
                                        "rows": []})
        if group["prompt_text"] != prompt_text:
            raise InputError(f"group {key!r} has another prompt at row {group['rows'][0]}: "
                             "every row of a group shares its prompt", path=source, row=line,
                             column="prompt")
        group["targets"].append(completion)
        group["completions"].append(completion)
        group["rewards"].append(float(reward))
        group["rows"].append(line)
    if not groups:
        raise InputError("holds no rows", path=source)
    if not allow_single:
        for group in groups.values():
            if len(group["rows"]) < 2:
                raise InputError(
                    f"is the only row of its group ({group['group_id']}): an advantage "
                    "compares a completion with the others of its prompt, so a group needs "
                    "at least 2 (give more completions of that prompt, a shared 'group', "
                    "or advantage 'none')", path=source, row=group["rows"][0],
                    column="group" if group["group_id"] == group["problem_id"] else "prompt")
    return list(groups.values()), formats.pop()
