"""confguard: confidence-gating middleware for LLM applications."""

__version__ = "0.1.0"
