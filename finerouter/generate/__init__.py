"""Generation: candidate models answer a prompts file (vLLM or OpenAI-compatible engines); answers are graded."""
