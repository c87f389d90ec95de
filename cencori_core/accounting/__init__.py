"""Usage accounting: usage normalization and estimation, pricing (genai-prices), ledgers."""
