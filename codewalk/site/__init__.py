"""`codewalk site`: KsanaLLM and vLLM as an offline, cross-referenced website (issue 18)."""
