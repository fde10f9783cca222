"""`codewalk demo compare`: the built-in trace through KsanaLLM's and vLLM's policies, with exact numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from codewalk.lessons.compare import compare


def test_compare_numbers_and_first_divergence():
    doc = compare()
    k, v = doc["summary"]["ksanallm"], doc["summary"]["vllm"]
    assert (k["prefix_hit_tokens"], v["prefix_hit_tokens"]) == (16, 24)
    assert (k["swaps_out"], k["swaps_in"], k["recomputes"]) == (2, 2, 0)
    assert (v["swaps_out"], v["preemptions"], v["recomputes"]) == (0, 1, 1)
    assert (k["steps_to_finish"], v["steps_to_finish"]) == (13, 10)
    d = doc["divergence"]
    assert d["step"] == 0 and d["request"] == 2
    assert "BlockPool.cache_full_blocks" in d["vllm"]
    assert "ContinuousBatchingStrategy::ProcessWaitingQueue" in d["ksanallm"]
    assert doc["steps"][0]["vllm"]["hits"] == {2: 8}


def test_compare_cli_json_and_text(tmp_path):
    # Run outside the checkout: `python -m` puts the working directory first on sys.path, and the
    # source tree's codewalk/ has no compiled _core next to it.
    out = subprocess.run([sys.executable, "-m", "codewalk", "demo", "compare", "--json"], capture_output=True,
                         text=True, check=True, cwd=tmp_path).stdout
    assert json.loads(out)["divergence"]["step"] == 0
    text = subprocess.run([sys.executable, "-m", "codewalk", "demo", "compare"], capture_output=True, text=True,
                          check=True, env={**os.environ, "COLUMNS": "160"}, cwd=tmp_path).stdout
    assert "first divergence: step 0" in text and "steps to finish" in text
