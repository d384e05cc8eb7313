"""Score strip_quotes on the shared quote cases and print the figures.

A case is clean when every expected part appears, in order, in the output (whitespace
normalised) and no must_not_contain line does (see the cases' SOURCE.md). mail-parser-reply
alone is scored in the same run as a baseline.

Usage: python bench/quotes.py [--cases DIR] [--verbose]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from mailparser_reply import EmailReplyParser
from mailparser_reply.constants import MAIL_LANGUAGES

from responder.mail.quotes import strip_quotes

DEFAULT_CASES = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "quote-cases"


def _norm(text: str) -> str:
    return " ".join(text.split())


def is_clean(output: str, case: dict) -> bool:
    """The SOURCE.md rule: expected parts in order, no forbidden line."""
    out = _norm(output)
    parts = case.get("expected_parts") or [case["expected_visible"]]
    position = 0
    for part in parts:
        found = out.find(_norm(part), position)
        if found < 0:
            return False
        position = found + len(_norm(part))
    return not any(_norm(line) and _norm(line) in out for line in case.get("must_not_contain", []))


def mail_parser_reply_alone(text: str) -> str:
    """Baseline: the library with every language it ships, nothing else."""
    languages = [lang for lang in MAIL_LANGUAGES if lang != "david"]
    return EmailReplyParser(languages=languages).parse_reply(text) or ""


def score(cases_dir: Path, func: Callable[[str], str], verbose: bool = False) -> tuple[int, int]:
    """Number of clean cases and the total, for one stripping function."""
    cases = [json.loads(line) for line in (cases_dir / "cases.jsonl").read_text().splitlines()]
    clean = 0
    for case in cases:
        text = (cases_dir / case["file"]).read_text(encoding="utf-8")
        output = func(text)
        ok = is_clean(output, case)
        clean += ok
        if verbose and not ok:
            print(f"--- not clean: {case['file']}\n{output}\n", file=sys.stderr)
    return clean, len(cases)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=Path, default=DEFAULT_CASES)
    parser.add_argument("--verbose", action="store_true", help="show outputs that are not clean")
    args = parser.parse_args()
    if not (args.cases / "cases.jsonl").exists():
        sys.exit(f"quote cases not found at {args.cases}")
    clean, total = score(args.cases, strip_quotes, args.verbose)
    base, _ = score(args.cases, mail_parser_reply_alone)
    print(f"clean: {clean}/{total}")
    print(f"mail_parser_reply_alone: {base}/{total}")


if __name__ == "__main__":
    main()
