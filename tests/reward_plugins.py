"""A user's reward function, imported by path in tests (``reward_plugins:no_minus``)."""


def no_minus(prompts, completions, verdicts, **columns):
    """1 for code without a minus sign: a stand-in for a team's own style rule."""
    assert len(prompts) == len(completions) == len(verdicts) == len(columns["problem_id"])
    assert all("status" in v and "cpu_time_ms" in v for v in verdicts)
    return [0.0 if "-" in completion else 1.0 for completion in completions]
