"""bot/wakes.py: a wake goes to one waiting thread; with none waiting, no wake is lost."""

from __future__ import annotations

import threading

from bot.wakes import Wakes


def _waiting(wakes: Wakes, index: int) -> threading.Thread:
    thread = threading.Thread(target=wakes.wait, args=(index, 60.0), daemon=True)
    thread.start()
    for _ in range(100_000):  # until it is waiting (no timing: it checks the state, not the clock)
        with wakes._lock:
            if index in wakes._waiting:
                return thread
        threading.Event().wait(0.001)
    raise AssertionError("the thread never started waiting")


def test_a_wake_goes_to_one_waiting_thread() -> None:
    wakes = Wakes(2)
    first, second = _waiting(wakes, 0), _waiting(wakes, 1)
    wakes.wake()
    first.join(10)
    assert not first.is_alive()
    assert second.is_alive()  # still asleep: one new item, one thread
    wakes.wake()
    second.join(10)
    assert not second.is_alive()


def test_a_wake_with_no_thread_waiting_is_kept_for_each() -> None:
    """Both threads mid-round (one may just have found nothing to do): each looks once more, none sleeps."""
    wakes = Wakes(2)
    wakes.wake()
    done = threading.Event()

    def both() -> None:
        wakes.wait(0, 60.0)
        wakes.wait(1, 60.0)
        done.set()

    threading.Thread(target=both, daemon=True).start()
    assert done.wait(10)
