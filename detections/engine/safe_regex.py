"""Sigma regular expressions on RE2 (linear time, no backtracking) with Python `re` semantics.

Python's `re` backtracks: `^(a+)+$` against 31 characters takes minutes, and a tenant rule runs
on every tenant's ingest thread. RE2 matches in time linear in the input, but its syntax and
classes differ from Python's (`\\d`, `\\w`, `\\s` are ASCII-only, `$` never matches before a final
newline). So a pattern is parsed by Python's own parser and re-emitted in RE2 syntax with
Python's meaning spelled out (Unicode classes as explicit ranges, a case-insensitive letter as
the class of what `re` folds it to, `$` as `\\n?\\z`, `.` as "not newline"): the match result
is the one Python's `re` gives.

Two things RE2 cannot say exactly: a Unicode word boundary (RE2's `\\b` is ASCII) and `$` before
a final newline when more pattern follows it. For those the RE2 form is exact only on some
subjects (ASCII text; text not ending in a newline). A trusted (shipped) rule then uses Python
`re` for the other subjects; an untrusted (tenant) rule always uses RE2 (an ASCII word boundary,
as in PCRE without UCP, which Sigma's regex type is modelled on).

Patterns RE2 cannot run at all (backreferences, lookarounds, atomic groups, possessive
repeats): a trusted rule falls back to Python `re` (pySigma's default policy already refuses
them at parse); an untrusted one is refused (:class:`UnsafeRegex`): no linear-time algorithm
exists for them, and a time bound would still let one tenant spend that bound on every event.
"""

from __future__ import annotations

import _sre
import importlib
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import Any

import re2
from re2 import _re2

# The stdlib regex parser (Python >= 3.11 names; typeshed has no stubs for these modules).
_casefix: Any = importlib.import_module("re._casefix")
C: Any = importlib.import_module("re._constants")  # the parser's opcode names
P: Any = importlib.import_module("re._parser")
_combine_flags: Any = importlib.import_module("re._compiler")._combine_flags

Search = Callable[[str], bool]

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # refusals are reported to the caller, not written to stderr
_OPTIONS.never_capture = True
_OPTIONS.max_mem = 64 << 20  # explicit Unicode classes make larger (still linear) programs

MAX_CODE = 0x10FFFF
_SURROGATES = (0xD800, 0xDFFF)

# How many compiled regex values went to each engine (reported by `soc rules validate` et al.).
ENGINE_COUNTS: Counter[str] = Counter()

_UNTRUSTED: ContextVar[bool] = ContextVar("untrusted_regex", default=False)


class UnsafeRegex(ValueError):
    """An untrusted rule's regular expression cannot run on the linear-time engine."""


class _Untranslatable(Exception):
    pass


@contextmanager
def untrusted() -> Iterator[None]:
    """Compile the rules built inside as untrusted (tenant) rules: RE2 only."""
    token = _UNTRUSTED.set(True)
    try:
        yield
    finally:
        _UNTRUSTED.reset(token)


def is_untrusted() -> bool:
    return _UNTRUSTED.get()


# --- character classes ------------------------------------------------------------------------


def _ranges_of(chars: str, flags: int = 0) -> list[tuple[int, int]]:
    """Code point ranges of the characters Python's ``chars`` item (e.g. ``\\w``) matches."""
    probe = re.compile(f"(?:{chars})+", flags)
    text = _all_chars()
    out: list[tuple[int, int]] = []
    for m in probe.finditer(text):
        first, last = ord(text[m.start()]), ord(text[m.end() - 1])
        # the probe text skips surrogates, so a run across them is two ranges
        if first < _SURROGATES[0] <= last:
            out += [(first, _SURROGATES[0] - 1), (_SURROGATES[1] + 1, last)]
        else:
            out.append((first, last))
    return out


@cache
def _all_chars() -> str:
    """Every code point but the surrogates, in order (what ``_ranges_of`` scans)."""
    below, above = range(_SURROGATES[0]), range(_SURROGATES[1] + 1, MAX_CODE + 1)
    return "".join(map(chr, below)) + "".join(map(chr, above))


_CATEGORY_CLASS = {
    C.CATEGORY_DIGIT: (r"\d", False),
    C.CATEGORY_NOT_DIGIT: (r"\d", True),
    C.CATEGORY_SPACE: (r"\s", False),
    C.CATEGORY_NOT_SPACE: (r"\s", True),
    C.CATEGORY_WORD: (r"\w", False),
    C.CATEGORY_NOT_WORD: (r"\w", True),
}


@cache
def _category(code: Any, ascii_only: bool) -> tuple[tuple[int, int], ...]:
    chars, negated = _CATEGORY_CLASS[code]
    if ascii_only:
        probe = re.compile(chars, re.ASCII)
        ranges = _merge([(c, c) for c in range(128) if probe.match(chr(c))])
    else:
        ranges = _ranges_of(chars)
    return tuple(_complement(ranges) if negated else ranges)


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _complement(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out, start = [], 0
    for lo, hi in _merge(ranges):
        if lo > start:
            out.append((start, lo - 1))
        start = hi + 1
    if start <= MAX_CODE:
        out.append((start, MAX_CODE))
    return out


def _char(c: int) -> str:
    ch = chr(c)
    return ch if ch.isascii() and ch.isalnum() else f"\\x{{{c:X}}}"


def _class(ranges: list[tuple[int, int]], negate: bool = False) -> str:
    body = "".join(_char(lo) if lo == hi else f"{_char(lo)}-{_char(hi)}" for lo, hi in ranges)
    return f"[{'^' if negate else ''}{body}]"


def _item_source(op: object, av: Any) -> str:
    """Python syntax of one single-character item of a parsed pattern."""
    if op is C.LITERAL:
        return f"\\U{av:08x}"
    if op is C.NOT_LITERAL:
        return f"[^\\U{av:08x}]"
    parts: list[str] = []
    for item_op, item in av:
        if item_op is C.NEGATE:
            parts.insert(0, "^")
        elif item_op is C.LITERAL:
            parts.append(f"\\U{item:08x}")
        elif item_op is C.RANGE:
            parts.append(f"\\U{item[0]:08x}-\\U{item[1]:08x}")
        elif item_op is C.CATEGORY:
            parts.append(
                _CATEGORY_CLASS[item][0].upper()
                if _CATEGORY_CLASS[item][1]
                else _CATEGORY_CLASS[item][0]
            )
        else:
            raise _Untranslatable(f"class item {item_op}")
    return "[" + "".join(parts) + "]"


@cache
def _folded_ranges(source: str, ascii_only: bool) -> tuple[tuple[int, int], ...]:
    """Every character Python's case-insensitive ``source`` item matches, found by letting
    Python match each code point: its case folding (simple lower case plus its extra cases)
    is then reproduced exactly, whatever RE2's folding tables say."""
    flags = re.IGNORECASE | (re.ASCII if ascii_only else 0)
    return tuple(_ranges_of(source, flags))


@cache
def _lower_of() -> dict[int, list[int]]:
    """Simple lower case (as `re` folds) -> the other code points that fold to it."""
    out: dict[int, list[int]] = {}
    tolower = _sre.unicode_tolower
    for c in range(MAX_CODE + 1):
        low = tolower(c)
        if low != c:
            out.setdefault(low, []).append(c)
    return out


@cache
def _folded_literal(c: int, ascii_only: bool) -> tuple[tuple[int, int], ...]:
    """The code points `re` matches for the literal ``c`` ignoring case: those whose lower case
    is c's or one of its extra cases. Candidates from the fold table, each confirmed by `re`."""
    flags = re.IGNORECASE | (re.ASCII if ascii_only else 0)
    probe = re.compile(f"\\U{c:08x}", flags)
    targets = {c, _sre.unicode_tolower(c), *_casefix._EXTRA_CASES.get(_sre.unicode_tolower(c), ())}
    candidates = set(targets)
    for t in targets:
        candidates.update(_lower_of().get(t, ()))
    hits = [x for x in candidates if probe.fullmatch(chr(x))]
    return tuple(_merge([(x, x) for x in hits]))


def _folded(op: object, av: Any, ascii_only: bool) -> str:
    if op is C.LITERAL and not _sre.unicode_iscased(av) and not _sre.ascii_iscased(av):
        return _char(av)
    if op is C.LITERAL:
        ranges = _folded_literal(av, ascii_only)
    else:
        ranges = _folded_ranges(_item_source(op, av), ascii_only)
    if not ranges:
        return _class([(0, MAX_CODE)], negate=True)
    return _class(list(ranges))


# --- translation ------------------------------------------------------------------------------


@dataclass
class Translation:
    """RE2 syntax with Python's meaning; ``needs_ascii`` / ``needs_no_final_newline`` say on
    which subjects only it is exact."""

    pattern: str
    needs_ascii: bool = False
    needs_no_final_newline: bool = False

    @property
    def exact(self) -> bool:
        return not (self.needs_ascii or self.needs_no_final_newline)


class _Translator:
    def __init__(self) -> None:
        self.out = Translation("")

    def seq(self, items: list[tuple[object, object]], flags: int, tail: bool) -> str:
        last = len(items) - 1
        return "".join(
            self.item(op, av, flags, tail and i == last) for i, (op, av) in enumerate(items)
        )

    def item(self, op: object, av: Any, flags: int, tail: bool) -> str:
        ascii_only = bool(flags & C.SRE_FLAG_ASCII)
        if flags & C.SRE_FLAG_IGNORECASE and op in (C.LITERAL, C.NOT_LITERAL, C.IN):
            return _folded(op, av, ascii_only)
        if op is C.LITERAL:
            return _char(av)
        if op is C.NOT_LITERAL:
            return _class([(av, av)], negate=True)
        if op is C.ANY:
            return f"[\\x{{0}}-\\x{{{MAX_CODE:X}}}]" if flags & C.SRE_FLAG_DOTALL else "[^\\n]"
        if op is C.IN:
            return self.charset(av, ascii_only)
        if op is C.BRANCH:
            _, branches = av
            return "(?:" + "|".join(self.seq(b, flags, tail) for b in branches) + ")"
        if op is C.SUBPATTERN:
            _, add, remove, sub = av
            return f"(?:{self.seq(sub, _combine_flags(flags, add, remove), tail)})"
        if op in (C.MAX_REPEAT, C.MIN_REPEAT):
            lo, hi, sub = av
            inner = self.seq(sub, flags, tail and hi == 1)
            if (lo, hi) == (0, C.MAXREPEAT):
                quant = "*"
            elif (lo, hi) == (1, C.MAXREPEAT):
                quant = "+"
            elif (lo, hi) == (0, 1):
                quant = "?"
            elif hi == C.MAXREPEAT:
                quant = f"{{{lo},}}"
            elif lo == hi:
                quant = f"{{{lo}}}"
            else:
                quant = f"{{{lo},{hi}}}"
            return f"(?:{inner}){quant}{'?' if op is C.MIN_REPEAT else ''}"
        if op is C.AT:
            return self.at(av, flags, tail)
        # backreferences, lookarounds, atomic groups, possessive repeats, conditionals
        raise _Untranslatable(str(op).lower())

    def charset(self, items: list[tuple[object, object]], ascii_only: bool) -> str:
        negate = False
        ranges: list[tuple[int, int]] = []
        for op, av in items:
            if op is C.NEGATE:
                negate = True
            elif op is C.LITERAL:
                ranges.append((av, av))  # type: ignore[arg-type]
            elif op is C.RANGE:
                ranges.append(av)  # type: ignore[arg-type]
            elif op is C.CATEGORY:
                ranges.extend(_category(av, ascii_only))
            else:
                raise _Untranslatable(f"class item {op}")
        kept = [
            r
            for lo, hi in _merge(ranges)
            for r in ((lo, min(hi, _SURROGATES[0] - 1)), (max(lo, _SURROGATES[1] + 1), hi))
            if r[0] <= r[1]
        ]
        if not kept:  # a class of surrogates only: nothing a UTF-8 subject holds
            return _class([(0, MAX_CODE)], negate=not negate)
        return _class(kept, negate)

    def at(self, code: Any, flags: int, tail: bool) -> str:
        multiline = flags & C.SRE_FLAG_MULTILINE
        if code is C.AT_BEGINNING:
            return "(?m:^)" if multiline else "\\A"
        if code is C.AT_BEGINNING_STRING:
            return "\\A"
        if code is C.AT_END:
            if multiline:
                return "(?m:$)"
            # Python's `$` also matches before a final newline; consuming it is exact when
            # nothing of the pattern follows
            if not tail:
                self.out.needs_no_final_newline = True
            return "(?:\\n?\\z)"
        if code is C.AT_END_STRING:
            return "\\z"
        if code in (C.AT_BOUNDARY, C.AT_NON_BOUNDARY):
            if not flags & C.SRE_FLAG_ASCII:
                self.out.needs_ascii = True
            return "\\b" if code is C.AT_BOUNDARY else "\\B"
        raise _Untranslatable(f"anchor {code}")


def translate(pattern: str, flags: int = 0) -> Translation:
    """``pattern`` (Python syntax and ``re`` flags) in RE2 syntax; re.error if Python cannot
    parse it, _Untranslatable if RE2 cannot express it."""
    parsed = P.parse(pattern, flags)
    translator = _Translator()
    global_flags = parsed.state.flags
    translator.out.pattern = translator.seq(list(parsed), global_flags, tail=True)
    return translator.out


# --- compiled predicates ----------------------------------------------------------------------


def _utf8_safe(s: str) -> str:
    """Lone surrogates (no UTF-8 form) become U+FFFD so RE2 can read the text."""
    return s.encode("utf-8", "replace").decode("utf-8")


def _re2_program(pattern: str, full: bool = False) -> Search:
    """A compiled RE2 yes/no matcher. RE2::Set answers without computing match positions (the
    DFA alone), several times faster than a regex object's search from Python."""
    anchor = re2._Anchor.ANCHOR_BOTH if full else re2._Anchor.UNANCHORED
    program = _re2.Set(anchor, _OPTIONS)
    if program.Add(pattern.encode("utf-8")) < 0 or not program.Compile():
        # Set reports no reason: the regex object does
        re2.compile(pattern, _OPTIONS)
        raise re2.error(f"RE2 cannot compile {pattern!r}")
    match = program.Match

    def search(s: str) -> bool:
        try:
            data = s.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates have no UTF-8 form
            data = s.encode("utf-8", "replace")
        return bool(match(data))

    return search


def _describe_error(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, re2.error) and exc.args and isinstance(exc.args[0], bytes):
        text = exc.args[0].decode("utf-8", "replace")
    return text


# A translation as data, [RE2 pattern, needs_ascii, needs_no_final_newline], or None when RE2
# cannot express the pattern: stored in compiled plans (detections.engine.compile), because
# translating (the Unicode tables behind it) costs more than everything else of a cached load.
TranslationData = list[Any] | None
_TRANSLATE: Any = object()


def translation_of(pattern: str, flags: int = 0) -> TranslationData:
    """The RE2 translation of ``pattern`` as data; None also for a pattern Python refuses
    (compile_search then raises the error)."""
    try:
        re.compile(pattern, flags)
        tr = translate(pattern, flags)
    except (re.error, _Untranslatable):
        return None
    return [tr.pattern, tr.needs_ascii, tr.needs_no_final_newline]


def compile_search(
    pattern: str,
    flags: int = 0,
    trusted: bool | None = None,
    translation: TranslationData = _TRANSLATE,
) -> Search:
    """A predicate ``s -> bool``: does ``pattern`` (Python syntax, ``re`` flags) match
    somewhere in ``s``, as ``re.search`` would say. Runs on RE2 where it can (see the module
    doc); ``trusted`` defaults to "not inside :func:`untrusted`". Raises re.error for a
    pattern Python cannot parse and :class:`UnsafeRegex` for an untrusted one RE2 cannot run.
    ``translation``: the pattern's ``translation_of``, when it is known already."""
    if trusted is None:
        trusted = not is_untrusted()
    if translation is _TRANSLATE:
        translation = translation_of(pattern, flags)
    if translation is not None and (Translation(*translation).exact or not trusted):
        try:  # RE2 alone gives the answer: the Python reference is not needed
            search = _re2_program(translation[0])
        except re2.error:
            pass  # as below: the fallbacks
        else:
            ENGINE_COUNTS["re2"] += 1
            return search
    python = re.compile(pattern, flags)  # the reference meaning; raises re.error
    try:
        if translation is None:
            raise _Untranslatable(pattern)
        tr = Translation(*translation)
        search = _re2_program(tr.pattern)
    except (_Untranslatable, re2.error) as exc:
        if trusted:
            ENGINE_COUNTS["python"] += 1
            return lambda s: python.search(s) is not None
        # RE2's own reading of the pattern (ASCII classes) is still linear-time
        try:
            native = _re2_program(_with_flags(pattern, flags))
        except re2.error as raw_exc:
            raise UnsafeRegex(
                f"regular expression '{pattern}' cannot run in linear time "
                f"({_describe_error(raw_exc)}); backreferences, lookarounds, atomic groups and "
                "possessive repeats are not allowed in tenant rules"
            ) from exc
        ENGINE_COUNTS["re2-native"] += 1
        return native
    if tr.exact or not trusted:
        ENGINE_COUNTS["re2"] += 1
        return search
    ENGINE_COUNTS["re2+python"] += 1
    ascii_only, no_final_nl = tr.needs_ascii, tr.needs_no_final_newline

    def dispatch(s: str) -> bool:
        if (ascii_only and not s.isascii()) or (no_final_nl and s.endswith("\n")):
            return python.search(s) is not None
        return search(s)

    return dispatch


def _with_flags(pattern: str, flags: int) -> str:
    names = {re.IGNORECASE: "i", re.MULTILINE: "m", re.DOTALL: "s"}
    prefix = "".join(v for k, v in names.items() if flags & k)
    return f"(?{prefix}){pattern}" if prefix else pattern
