"""The shared-prompt layout on the real SmolLM2-135M (GQA, tied embeddings, chat template)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import torch

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "humaneval"


@pytest.mark.slow
def test_shared_prompt_log_probs_match_on_smollm2():
    if not (SHARED / "codegen16b_samples.jsonl.gz").is_file():
        pytest.skip("../shared/data/humaneval is not here")
    from ocrl.models import load_model_and_tokenizer
    from ocrl.prompting import ASSERT_STOPS, detect_format, truncate_at_stops
    from ocrl.trainer.collator import collate_groups
    from ocrl.trainer.groups import prepare_groups
    from ocrl.trainer.logprobs import completion_logps

    with gzip.open(SHARED / "codegen16b_samples.jsonl.gz", "rt", encoding="utf-8") as handle:
        row = json.loads(handle.readline())
    completions = [truncate_at_stops(s, ASSERT_STOPS) for s in row["samples"][:3]]
    group = {"group_id": "g", "problem_id": "HumanEval/0", "prompt": row["prompt"],
             "style": "assert", "completions": completions, "rewards": [1.0, 0.0, 0.5],
             "statuses": ["Accepted", "Wrong Answer", "Wrong Answer"]}
    model, tokenizer = load_model_and_tokenizer("smollm2-135m")
    fmt = detect_format(tokenizer)
    assert fmt == "chat"
    data, _ = prepare_groups([group], tokenizer, prompt_format=fmt)
    assert len(data[0]["completion_ids"]) == 3  # whole answers, none dropped
    features = [data[0]]
    model.eval()
    with torch.no_grad():
        shared = completion_logps(model, collate_groups(features, pad_token_id=0))
        flat = completion_logps(model, collate_groups(features, pad_token_id=0,
                                                      share_prompt=False))
    mask = collate_groups(features, pad_token_id=0)["target_mask"]
    assert torch.allclose(shared, flat, atol=2e-4)
    # a trained instruct model finds its own chat-format code likely: not noise
    assert (shared[mask].mean() > -3.0).item()
