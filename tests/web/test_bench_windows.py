"""The REST benchmarks' alternated windows (``bench/loadgen.py``): ours, raw, raw, ours, each
side's two joined into one whose rate is their mean and whose CPU shares are weighted by each
window's length; the notes' pair ratios put each of our windows beside its neighbour. Pure: the
windows are made here, no servers."""

from __future__ import annotations

import pytest

from bench.loadgen import Window, alternated, pair_ratios


def closed(rate: float, wall: float, cpu: float, status: int = 200) -> Window:
    n = int(rate * 10)
    return Window("closed", 10.0, [0.01] * n, {status: n}, sent=n + 5, wall=wall,
                  cpu={"server": cpu}, load=f"{rate}")


async def test_the_windows_run_ours_raw_raw_ours_and_each_side_is_joined():
    order: list[str] = []

    def side(name: str, rates: dict[int, float]):
        async def run(n: int) -> Window:
            order.append(f"{name} {n}")
            return closed(rates[n], 12.0, 0.5)
        return run

    ours, raw = await alternated(side("ours", {1: 400, 2: 300}), side("raw", {1: 2000, 2: 2400}))
    assert order == ["ours 1", "raw 1", "raw 2", "ours 2"]
    assert ours.rate == pytest.approx(350) and raw.rate == pytest.approx(2200)
    assert pair_ratios(ours, raw) == "20 % / 12 %"
    assert "(windows 400 / 300)" in ours.text("notes/s")


def test_a_joined_window_sums_what_it_counts_and_weights_the_cpu_by_time():
    a, b = closed(100, 10.0, 0.2), closed(300, 30.0, 0.6, status=201)
    both = Window.joined(a, b)
    assert (both.seconds, both.sent, both.wall) == (20.0, a.sent + b.sent, 40.0)
    assert both.status == {200: 1000, 201: 3000} and len(both.lat) == 4000
    assert both.cpu["server"] == pytest.approx((0.2 * 10 + 0.6 * 30) / 40)
    assert both.cpu_ms == pytest.approx(0.5 * 40 / both.sent * 1000)
    assert both.load == b.load and both.parts == [a, b]
