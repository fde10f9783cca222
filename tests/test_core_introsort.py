"""The reference's `std_sort` against libstdc++'s own `std::sort`, compiled here at test time.

KsanaLLM's `BalanceReqsAlgo::BalanceReqs` orders requests with `std::sort` by token count, longest
first; with more than 16 requests, ties come out in introsort's order. The probe sorts
(key, original index) pairs with that comparator and prints the permutation; the reference must
print the same one. `partial_sort` pins the heapsort fallback, which random input rarely reaches.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codewalk.core import ref_introsort
from codewalk.core.ref_introsort import std_sort

PROBE = r"""
#include <algorithm>
#include <cstddef>
#include <iostream>
#include <string>
#include <utility>
#include <vector>
// Reads cases "mode n k1 .. kn" (mode: sort | partial); prints the original indices in sorted order,
// then every comparison made, in order, as pairs of original indices.
int main() {
  std::string mode;
  while (std::cin >> mode) {
    size_t n = 0;
    std::cin >> n;
    std::vector<std::pair<size_t, size_t>> v(n);
    for (size_t i = 0; i < n; ++i) { std::cin >> v[i].first; v[i].second = i; }
    std::vector<std::pair<size_t, size_t>> seen;  // every comparison, as (original index, original index)
    auto longest_first = [&seen](const auto& a, const auto& b) {
      seen.emplace_back(a.second, b.second);
      return a.first > b.first;
    };
    if (mode == "sort") std::sort(v.begin(), v.end(), longest_first);
    else std::partial_sort(v.begin(), v.end(), v.end(), longest_first);
    for (const auto& p : v) std::cout << p.second << ' ';
    std::cout << '\n';
    for (const auto& c : seen) std::cout << c.first << ' ' << c.second << ' ';
    std::cout << '\n';
  }
}
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cxx = shutil.which("g++")
    if cxx is None:
        pytest.skip("no g++ to compile the std::sort probe")
    d = tmp_path_factory.mktemp("probe")
    (d / "probe.cpp").write_text(PROBE)
    subprocess.run([cxx, "-std=c++17", "-O1", "-o", str(d / "probe"), str(d / "probe.cpp")], check=True)
    return d / "probe"


def _run_probe(probe: Path, cases: list[tuple[str, list[int]]]) -> list[tuple[list[int], list[int]]]:
    text = "".join(f"{mode} {len(keys)} {' '.join(map(str, keys))}\n" for mode, keys in cases)
    out = subprocess.run([str(probe)], input=text, capture_output=True, text=True, check=True).stdout
    lines = [[int(x) for x in line.split()] for line in out.splitlines()]
    return list(zip(lines[0::2], lines[1::2]))


def _libstdcxx(probe: Path, cases: list[tuple[str, list[int]]]) -> list[list[int]]:
    return [perm for perm, _ in _run_probe(probe, cases)]


def _sorted_with_log(mode: str, keys: list[int]) -> tuple[list[int], list[int]]:
    """Our permutation, and every comparison made (flattened pairs of original indices)."""
    pairs = [(k, i) for i, k in enumerate(keys)]
    seen: list[int] = []

    def less(a: tuple[int, int], b: tuple[int, int]) -> bool:  # BalanceReqs' comparator
        seen.extend((a[1], b[1]))
        return a[0] > b[0]

    if mode == "sort":
        std_sort(pairs, less)
    else:
        ref_introsort._partial_sort(pairs, 0, len(pairs), len(pairs), less)
    return [i for _, i in pairs], seen


def _ours(mode: str, keys: list[int]) -> list[int]:
    return _sorted_with_log(mode, keys)[0]


def test_tie_permutation_matches_libstdcxx(probe: Path) -> None:
    rng = random.Random(16)
    cases: list[tuple[str, list[int]]] = []
    for n in [0, 1, 2, 3, 15, 16, 17, 18, 31, 32, 33, 100, 257, 1000]:
        for spread in (1, 2, 5, 40):  # few distinct keys: many ties
            cases.append(("sort", [rng.randint(1, spread) for _ in range(n)]))
            cases.append(("partial", [rng.randint(1, spread) for _ in range(n)]))
    cases.append(("sort", list(range(300))))  # ascending: the worst case for longest-first
    cases.append(("sort", list(range(300, 0, -1))))
    cases.append(("sort", [7] * 200))
    expected = _run_probe(probe, cases)
    for (mode, keys), want in zip(cases, expected):
        # The same permutation, from the same comparisons made in the same order.
        assert _sorted_with_log(mode, keys) == want, (mode, keys)


def test_ties_are_not_arrival_order(probe: Path) -> None:
    """The reason this module exists: with > 16 equal keys std::sort does not keep input order."""
    keys = [3] * 17 + [5] * 3
    got = _ours("sort", keys)
    assert got == _libstdcxx(probe, [("sort", keys)])[0]
    assert got != sorted(range(len(keys)), key=lambda i: -keys[i])  # not what a stable sort gives


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 6), max_size=80))
def test_random_keys_match_libstdcxx(probe: Path, keys: list[int]) -> None:
    assert _ours("sort", keys) == _libstdcxx(probe, [("sort", keys)])[0]


@given(st.lists(st.integers(-5, 5), max_size=60))
def test_sorted_and_a_permutation(keys: list[int]) -> None:
    got = _ours("sort", keys)
    assert sorted(got) == list(range(len(keys)))
    assert [keys[i] for i in got] == sorted(keys, reverse=True)
