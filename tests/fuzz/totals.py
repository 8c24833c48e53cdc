"""Sum hypothesis' ``--hypothesis-show-statistics`` report into one line (for ``make fuzz``)."""

from __future__ import annotations

import re
import sys


def totals(text: str) -> dict[str, int]:
    counts = {"passing": 0, "failing": 0, "invalid": 0}
    for passing, failing, invalid in re.findall(r"(\d+) passing, (\d+) failing, and (\d+) invalid", text):
        counts["passing"] += int(passing)
        counts["failing"] += int(failing)
        counts["invalid"] += int(invalid)
    counts["properties"] = len(re.findall(r"^tests/fuzz/\S+::\S+:$", text, re.MULTILINE))
    return counts


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8", errors="replace") as fh:
        c = totals(fh.read())
    print(
        f"fuzz totals: {c['properties']} properties, {c['passing']} passing, "
        f"{c['failing']} failing, {c['invalid']} invalid examples"
    )
