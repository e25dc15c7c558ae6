"""Fewer passes of Python's cyclic garbage collector while a graph is built or walked.

Python's collector starts a pass of its youngest generation after every 700
new container objects (net of those freed), and every tenth such pass also
walks the older generations. Building a graph makes one new object per node
and frees none, so a graph of a million nodes triggers ~1,400 passes, and the
passes over the older generations walk the whole graph again and again: on
large graphs that was a third to a half of the engine's time.

The passes find nothing here: a ``Value`` refers only to its parents, its op
row and shared (label, scope) tuples, never to a consumer, so nodes never
form reference cycles and a dropped graph is freed by reference counting
alone (tests check this with ``gc.collect()``). :class:`defer_gc` raises the
first-generation threshold for the duration of a block, so the collector
still runs (user cycles are still found) but rarely; the previous thresholds
come back on exit, also on an exception. ``backward()``, ``grad()`` and
``nn.fit`` use it; nothing changes the thresholds on import.
"""

from __future__ import annotations

import gc
import threading

# New container objects between passes of the youngest generation inside the
# block (Python's default is 700). A pass then costs about as much as the
# 100,000 nodes it follows, instead of 140 passes for them.
GRAPH_THRESHOLD = 100_000

# One process-wide count: thresholds are process-wide, and blocks in
# several threads may overlap in any order. The first block in saves the
# thresholds, the last one out restores them.
_lock = threading.Lock()
_depth = 0
_saved: tuple[int, ...] | None = None


def _enter() -> None:
    global _depth, _saved
    with _lock:
        if _depth == 0:
            old = gc.get_threshold()
            # A threshold of 0 turns automatic collection off; a higher one is the user's choice: keep both.
            if 0 < old[0] < GRAPH_THRESHOLD:
                gc.set_threshold(GRAPH_THRESHOLD, *old[1:])
                _saved = old
            else:
                _saved = None
        _depth += 1


def _exit() -> None:
    global _depth, _saved
    with _lock:
        if _depth == 0:
            raise RuntimeError("defer_gc().__exit__ was called without a matching __enter__")
        _depth -= 1
        if _depth == 0 and _saved is not None:
            # Restore, unless the thresholds were changed inside the block (then they are the user's).
            if gc.get_threshold()[0] == GRAPH_THRESHOLD:
                gc.set_threshold(*_saved)
            _saved = None


class defer_gc:
    """Context manager: the garbage collector runs rarely inside (graphs make no cycles).

    The first-generation threshold becomes :data:`GRAPH_THRESHOLD` (100,000
    new objects instead of 700) until the outermost block exits, in any
    thread; then the previous thresholds come back, also when the block
    raises. The collector is never disabled: cycles made by user code are
    still collected, a little later. ``backward()``, ``grad()`` and
    ``nn.fit`` use it already; wrap the code that builds a large graph and
    uses it, up to the backward pass::

        with autograd.defer_gc():
            loss = model_loss(batch)   # builds the graph
            model.zero_grad()
            loss.backward()
        optimizer.step()

    After the block, the first new container object (a list, a dict, ...)
    starts a collection over everything made in the block that is still
    alive: while the graph is still in use, that is one pass over all of it.

    A threshold of 0 (automatic collection off) or one already higher is
    left as it is.
    """

    def __enter__(self) -> None:
        _enter()

    def __exit__(self, *exc: object) -> None:
        _exit()
