#!/usr/bin/env python3
"""Add or change Dutch translations in soc/core/locale/nl/LC_MESSAGES/messages.po and compile
messages.mo, under a lock (several people may translate at once).

    scripts/translate.py "English text" "Nederlandse tekst" ["English 2" "Nederlands 2" ...]
    scripts/translate.py --file pairs.tsv        # one "English<TAB>Dutch" per line
    scripts/translate.py --context verb "Open" "Openen"
    scripts/translate.py --missing               # list marked messages with no Dutch yet
"""

from __future__ import annotations

import argparse
import fcntl
import sys
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
PO = ROOT / "soc/core/locale/nl/LC_MESSAGES/messages.po"
LOCK = ROOT / "soc/core/locale/.lock"
PACKAGES = ("soc", "risk", "kri", "tenants", "ingest", "detections")
KEYWORDS = {"N_": None, "P_": ((1, "c"), 2), "_": None, "pgettext": ((2, "c"), 3)}
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]


def marked() -> set[tuple[str | None, str]]:
    found: set[tuple[str | None, str]] = set()
    for package in PACKAGES:
        for _f, _l, message, _c, context in extract_from_dir(
            str(ROOT / package), METHODS, keywords=KEYWORDS
        ):
            message = message[0] if isinstance(message, tuple) else message
            if message:
                found.add((context, message))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pairs", nargs="*", help="English, Dutch, English, Dutch, ...")
    parser.add_argument("--file", type=Path, help="a TSV of English<TAB>Dutch lines")
    parser.add_argument("--context", default=None, help="the msgctxt of the given pairs")
    parser.add_argument("--missing", action="store_true", help="list untranslated messages")
    args = parser.parse_args()
    pairs: list[tuple[str, str]] = list(zip(args.pairs[::2], args.pairs[1::2], strict=True))
    if args.file:
        for line in args.file.read_text(encoding="utf-8").splitlines():
            if line.strip():
                english, dutch = line.split("\t", 1)
                pairs.append((english, dutch))
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with PO.open("rb") as handle:
            catalogue = read_po(handle)
        if args.missing:
            for context, message in sorted(marked(), key=lambda m: m[1]):
                entry = catalogue.get(message, context=context)
                if entry is None or not entry.string:
                    print(f"{context or ''}\t{message}")
            return 0
        for english, dutch in pairs:
            entry = catalogue.get(english, context=args.context)
            if entry is None:
                catalogue.add(english, dutch, context=args.context)
            else:  # Catalog.add keeps an existing entry's text (e.g. empty after an update)
                entry.string = dutch
                entry.flags.discard("fuzzy")
        with PO.open("wb") as handle:
            write_po(handle, catalogue, width=99, sort_output=True, omit_header=False)
        with PO.with_suffix(".mo").open("wb") as handle:
            write_mo(handle, catalogue)
    print(f"{len(pairs)} translations written, catalogue compiled", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
