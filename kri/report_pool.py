"""Render many reports' PDFs across the machine's cores (the monthly run, issue 13: 200
customers x 30 KRIs in < 60 s on 2 cores).

`render_all(contents)` yields each content with its PDF bytes, in the order given. With more
than one worker the PDFs are rendered by a pool of spawned processes (WeasyPrint is CPU bound
and holds the GIL); building content and writing rows stays with the caller. Where a pool
cannot be used (one core, a daemonic process such as a Celery prefork child, or a pool that
breaks) the PDFs are rendered here, one after another: the same bytes, only slower.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from kri.report_render import Lang, render_pdf

log = logging.getLogger(__name__)
MIN_PARALLEL = 4  # fewer reports than this: starting the workers costs more than it saves


def default_workers(count: int) -> int:
    """Workers for `count` reports: every core, but 1 when a pool cannot or need not be used."""
    cores = os.cpu_count() or 1
    if count < MIN_PARALLEL or cores < 2 or multiprocessing.current_process().daemon:
        return 1
    return min(cores, count)


def _warm() -> None:
    """Worker start: load WeasyPrint and its fonts once, not in the first report."""
    content: dict[str, Any] = {"kind": "end_to_end", "period": "2000-01", "as_of": "2000-01-31",
               "generated_at": "2000-02-01T00:00:00", "tenant": None, "provider": None,
               "blocks": {}}  # fmt: skip
    render_pdf(content, "en")


def _render(content: dict[str, Any], lang: Lang) -> bytes:
    return render_pdf(content, lang)


Rendered = tuple[dict[str, Any], bytes]


def render_all(
    contents: Iterable[dict[str, Any]], workers: int, lang: Lang = "en"
) -> Iterator[Rendered]:
    """Each content with its PDF, in order. `contents` may be lazy (built while the first PDFs are
    rendered); at most 4 reports per worker are in flight, so memory stays small."""
    if workers <= 1:
        for content in contents:
            yield content, render_pdf(content, lang)
        return
    context = multiprocessing.get_context("spawn")  # no fork of a threaded, connected parent
    pending: deque[tuple[dict[str, Any], Future[bytes] | None]] = deque()
    broken = False
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_warm) as pool:
        for content in contents:
            future = None if broken else _submit(pool, content, lang)
            broken = broken or future is None
            pending.append((content, future))
            while len(pending) >= 4 * workers or (pending and _ready(pending[0][1])):
                yield _result(*pending.popleft(), lang)
        while pending:
            yield _result(*pending.popleft(), lang)


def _submit(pool: ProcessPoolExecutor, content: dict[str, Any], lang: Lang) -> Future[bytes] | None:
    try:
        return pool.submit(_render, content, lang)
    except (BrokenProcessPool, RuntimeError):
        log.warning("report render pool unavailable: rendering here", exc_info=True)
        return None


def _ready(future: Future[bytes] | None) -> bool:
    return future is None or future.done()


def _result(content: dict[str, Any], future: Future[bytes] | None, lang: Lang) -> Rendered:
    if future is not None:
        try:
            return content, future.result()
        except BrokenProcessPool:
            log.warning("report render worker died: rendering here", exc_info=True)
    return content, render_pdf(content, lang)
