"""Read pytest's closing summary from a log and fail when fewer tests ran than the committed floor.

Usage: python3 .ci/count_tests.py LOG FLOOR_FILE. Counts every outcome pytest reports for a test
(passed, failed, skipped, xfailed, xpassed, errors), prints the count and the floor, exits 1 below it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

OUTCOMES = ("passed", "failed", "skipped", "xfailed", "xpassed", "error", "errors")


def count(log_text: str) -> int:
    summary = [ln for ln in log_text.splitlines() if re.search(r"\b\d+ (passed|failed|skipped|error)", ln)]
    if not summary:
        raise SystemExit("count_tests: no pytest summary line in the log")
    line = summary[-1]
    return sum(int(n) for n, word in re.findall(r"(\d+) (\w+)", line) if word in OUTCOMES)


def main() -> None:
    log, floor_file = Path(sys.argv[1]), Path(sys.argv[2])
    floor = int(floor_file.read_text().split()[0])
    n = count(log.read_text(errors="replace"))
    print(f"tests run: {n} (floor {floor}, {floor_file})")
    if n < floor:
        raise SystemExit(f"count_tests: only {n} tests ran, fewer than the floor of {floor} in {floor_file}")


if __name__ == "__main__":
    main()
