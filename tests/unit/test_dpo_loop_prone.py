"""The controlled loop-prone SFT data of benchmarks/antiloop.py: which replies degenerate, and how."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from datasets import Dataset

from tests.recipes import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "antiloop.py"


def _bench():
    return load_script(SCRIPT)


def test_degenerate_reply_repeats_the_first_sentence():
    bench = _bench()
    assert bench.degenerate_reply("Done. The lights are on.", 3) == "Done. The lights are on. Done. Done. Done."
    assert bench.degenerate_reply("All set", 2) == "All set All set. All set."


def test_only_the_seeded_share_of_reply_rows_changes():
    bench = _bench()
    rows = Dataset.from_dict({
        "kind": ["reply"] * 200 + ["call"] * 50,
        "reply": [f"Reply {i}. More." for i in range(200)] + [""] * 50,
    })
    out, changed = bench.loop_prone_rows(rows, share=0.4, repeats=5, seed=0)
    modified = [a != b for a, b in zip(rows["reply"], out["reply"])]
    assert sum(modified) == changed
    assert 60 <= changed <= 100  # ~40% of 200, seeded
    assert not any(modified[200:])  # call rows untouched
    for before, after, m in zip(rows["reply"], out["reply"], modified):
        if m:
            assert after.startswith(before) and after.count(before.split(". ")[0] + ".") == 6
    _, again = bench.loop_prone_rows(rows, share=0.4, repeats=5, seed=0)
    assert again == changed  # deterministic for a seed
