"""Replay prompt-lookup drafting on greedy answers already generated: tokens per decode step.

Greedy verification keeps a draft token exactly when it is the token the model produced next,
so the answers of an `ocrl eval` run (its ``samples.parquet``: ``model_input`` and
``generated``) tell, without running the model, how many tokens each step would have gained
for every n-gram rule and draft length. This chose ``drafting.DRAFT_NGRAMS`` and the earliest
occurrence. Texts are re-tokenised, so a few token boundaries may differ from the run's.

    .venv/bin/python benchmarks/draft_lookup_replay.py RUN/samples.parquet
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RULES = ((3, 2, 1), (3, 2), (2, 1), (4, 3, 2))


def replay(prompt: list[int], answer: list[int], limit: int, ngrams, earliest: bool):
    """(decode steps, draft tokens proposed, kept) for one answer, drafting as the sampler
    does (``drafting.LookupIndex``): each step proposes what followed an occurrence of the
    longest n-gram ending the context, keeps the matching prefix and adds the model's own
    next token."""
    from ocrl.evaluation.drafting import LookupIndex

    index = LookupIndex(prompt, ngrams, earliest=earliest)
    at, steps, proposed, kept = 0, 0, 0, 0
    while at < len(answer):
        draft = index.draft(min(limit, len(answer) - at - 1))
        match = 0
        while match < len(draft) and draft[match] == answer[at + match]:
            match += 1
        proposed, kept, steps = proposed + len(draft), kept + match, steps + 1
        index.append(answer[at:at + match + 1])
        at += match + 1
    return steps, proposed, kept


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("samples", help="an `ocrl eval` run's samples.parquet (greedy)")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--limits", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" /
                                             "draft_lookup_replay.json"))
    args = parser.parse_args(argv)
    import pyarrow.parquet as pq

    from ocrl.models import load_model_and_tokenizer

    _, tokenizer = load_model_and_tokenizer(args.model)
    rows = pq.read_table(args.samples, columns=["model_input", "generated"]).to_pylist()
    pairs = [(tokenizer(r["model_input"], add_special_tokens=False).input_ids,
              tokenizer(r["generated"], add_special_tokens=False).input_ids) for r in rows]
    tokens = sum(len(answer) for _, answer in pairs)
    results = []
    for limit in args.limits:
        for ngrams in RULES:
            for earliest in (True, False):
                runs = [replay(p, a, limit, ngrams, earliest) for p, a in pairs]
                steps = sum(r[0] for r in runs)
                proposed, kept = sum(r[1] for r in runs), sum(r[2] for r in runs)
                longest = max(zip((len(a) for _, a in pairs), (r[0] for r in runs)))
                results.append({"draft_tokens": limit, "ngrams": list(ngrams),
                                "occurrence": "earliest" if earliest else "latest",
                                "tokens_per_step": round(tokens / steps, 3),
                                "kept_share": round(kept / max(1, proposed), 3),
                                "longest_answer_tokens_and_steps": list(longest)})
                print(json.dumps(results[-1]), flush=True)
    summary = {"samples": args.samples, "answers": len(pairs), "tokens": tokens,
               "model": args.model, "results": results}
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    main()
