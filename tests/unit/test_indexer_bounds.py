"""The indexer cuts a range holding too many events at a block boundary."""

from couponchain.indexer.indexer import _bounded


def logs(*blocks: int) -> list[dict]:
    return [{"blockNumber": hex(b)} for b in blocks]


def test_a_small_range_is_kept_whole() -> None:
    assert _bounded(logs(1, 2, 3), 9, 5) == (logs(1, 2, 3), 9)


def test_a_large_range_ends_at_the_last_whole_block() -> None:
    kept, last = _bounded(logs(1, 1, 2, 2, 3, 3, 4), 10, 4)
    assert kept == logs(1, 1, 2, 2) and last == 2


def test_one_block_larger_than_the_bound_is_taken_whole() -> None:
    kept, last = _bounded(logs(5, 5, 5, 5, 6), 8, 2)
    assert kept == logs(5, 5, 5, 5) and last == 5
