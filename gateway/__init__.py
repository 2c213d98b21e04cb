"""An OpenAI-compatible LLM gateway. The module path is the API; this file holds the version only."""

__version__ = "0.1.0"
