"""The heap kept frozen during play: full passes freeze what they find alive, nothing is lost."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from oncall_dojo.tui import heap as heap_mod
from oncall_dojo.tui.heap import PlayHeap

from .helpers import new_app, sync, to_incident, wait_for


class Node:
    """A cyclic object (only the collector can free it)."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def heap() -> Iterator[PlayHeap]:
    h = PlayHeap(thaw_every=3)
    h.start()
    try:
        yield h
    finally:
        h.stop()
        gc.collect()


def _frozen(obj: object) -> bool:
    """Frozen objects are in no generation the collector scans."""
    return not any(o is obj for i in range(3) for o in gc.get_objects(i))


def test_a_full_pass_freezes_what_it_found_alive(heap: PlayHeap) -> None:
    alive = Node()
    assert not _frozen(alive)
    gc.collect()
    assert heap.full_passes == 1
    assert _frozen(alive)
    # garbage made before the pass is collected by it, not frozen
    ref = weakref.ref(Node())
    gc.collect()
    assert ref() is None


def test_frozen_cycles_are_reclaimed_by_a_thaw(heap: PlayHeap) -> None:
    heap.thaw_every = 100
    node = Node()
    ref = weakref.ref(node)
    for _ in range(heap_mod.RECLAIM_AFTER):
        gc.collect()
    assert _frozen(node)
    del node
    gc.collect()
    assert ref() is not None  # a frozen cycle waits ...
    heap.reclaim()
    assert ref() is None  # ... until everything is scanned once
    assert heap.thaws == 1


def test_every_few_passes_the_next_one_scans_everything(heap: PlayHeap) -> None:
    node = Node()
    ref = weakref.ref(node)
    gc.collect()
    assert _frozen(node)
    del node
    gc.collect()
    assert ref() is not None and heap.thaws == 0
    gc.collect()  # the third pass (thaw_every=3) thaws ...
    assert heap.thaws == 1
    gc.collect()  # ... and the next one reclaims the frozen cycle
    assert ref() is None


def test_reclaim_waits_for_enough_passes_and_stop_thaws_all(heap: PlayHeap) -> None:
    heap.reclaim()
    assert heap.thaws == 0  # nothing frozen by passes yet: no long pass for nothing
    alive = Node()
    gc.collect()
    heap.stop()
    assert not heap.running and heap._on_gc not in gc.callbacks
    assert not _frozen(alive)
    assert gc.get_freeze_count() == 0


@sync
async def test_the_heap_is_frozen_during_play_and_reclaimed_on_pause() -> None:
    app = new_app()
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await to_incident(pilot)
            await wait_for(pilot, lambda: screen.heap.running)
            assert gc.get_freeze_count() > 0
            for _ in range(heap_mod.RECLAIM_AFTER):
                gc.collect()
            screen.set_speed(20)  # running: F2 pauses it
            await pilot.press("f2")
            assert screen.pacer.paused
            await wait_for(pilot, lambda: screen.heap.thaws == 1)
            assert screen.heap.running
            # any screen over play (here the help) is a moment to reclaim too
            for _ in range(heap_mod.RECLAIM_AFTER):
                gc.collect()
            await pilot.press("f1")
            await wait_for(pilot, lambda: screen.heap.thaws == 2)
    finally:
        gc.unfreeze()
    assert not screen.heap.running and screen.heap._on_gc not in gc.callbacks
