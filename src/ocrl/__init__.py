"""ocrl: offline reinforcement learning for code-generating language models."""

__version__ = "0.1.0"
