"""What the demos compute, as plain data: replays through the core, the KsanaLLM/vLLM comparison,
the split-fuse trace, paged-vs-contiguous KV accounting and online softmax."""
