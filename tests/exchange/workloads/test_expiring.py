"""The provider cache stays bounded: least recently used and idle entries go."""

from __future__ import annotations

from external_identity.exchange.workloads.expiring import ExpiringCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_beyond_the_bound_the_least_recently_used_entry_goes() -> None:
    cache: ExpiringCache[str, int] = ExpiringCache(max_entries=2, idle_seconds=60)
    assert cache.put("a", 1) == [] and cache.put("b", 2) == []
    assert cache.get("a") == 1  # a is now the most recently used
    assert cache.put("c", 3) == [2]
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_an_entry_idle_for_too_long_is_not_returned_and_is_swept() -> None:
    clock = Clock()
    cache: ExpiringCache[str, int] = ExpiringCache(max_entries=8, idle_seconds=60,
                                                   monotonic=clock)
    cache.put("a", 1)
    clock.now = 30
    assert cache.get("a") == 1  # use renews it
    clock.now = 89
    assert cache.get("a") == 1
    clock.now = 200
    assert cache.get("a") is None
    assert cache.put("b", 2) == [1] and len(cache) == 1


def test_replacing_and_removing_hand_back_what_left() -> None:
    cache: ExpiringCache[tuple[str, str], int] = ExpiringCache(max_entries=8, idle_seconds=60)
    cache.put(("payments", "api"), 1)
    assert cache.put(("payments", "api"), 2) == [1]
    cache.put(("orders", "worker"), 3)
    assert cache.pop_where(lambda key: key[0] == "payments") == [2]
    assert cache.clear() == [3] and len(cache) == 0
