"""Process settings for long batch runs (a harvest, its feed workers, the store benchmarks).

CPython's cyclic garbage collector runs a young-generation pass every 700 container
allocations, and a full pass now and then over every tracked object. A harvest or a bulk load
allocates millions of short-lived lists, dicts and tuples (parsed entries, SQL parameters, key
arrays' wrappers) that reference counting frees anyway, and keeps a few hundred thousand
long-lived ones loaded at start-up (modules, the language model, the tagging and place data).
:func:`batch_gc` freezes the latter, so that no pass walks them again, and makes young passes
rarer: on ``bench/dedup_scale.py`` (40,000 inserts) the collector's time fell from 2.1 s to
0.3 s of ~17 s (freezing alone: 1.3–1.5 s), the same stories stored. On ``bench/harvest.py``
the thresholds made no difference beyond noise. Reference cycles are still collected, later.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: ``gc.set_threshold`` for long batch runs: a young pass every 50,000 container allocations
#: (700 by default), the older generations every 20 passes of the one below (10).
BATCH_GC_THRESHOLDS = (50_000, 20, 20)


@contextmanager
def batch_gc() -> Iterator[None]:
    """For the body: collect once, freeze what survives (what is loaded so far, which lives as
    long as the run) and set :data:`BATCH_GC_THRESHOLDS`; then restore the thresholds and
    unfreeze (a process that runs a harvest and goes on, such as the demo or a test).

    The young generation at the body's end (up to 50,000 objects, mostly alive: the store's
    caches) joins the old one as it is: with the default thresholds restored over it, the next
    allocation walked all of it (13 ms at the end of ``bench/harvest.py``'s harvest, to free a
    few thousand objects), in a ``roundup harvest`` that then only prints its summary and
    exits. Its garbage is collected by the next full pass."""
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*BATCH_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.freeze()  # every generation into the frozen one, unwalked; the young count restarts
        gc.set_threshold(*previous)
        gc.unfreeze()  # all of it into the old generation
