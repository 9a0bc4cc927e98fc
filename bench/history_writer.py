"""
How fast HistoryWriter stores room lines into SQLStore on SQLite (a temporary file), on the
real reactor, against the store's own append_lines rate as the baseline.

    .venv/bin/python bench/history_writer.py                  # 500 000 lines, 2000 per turn
    .venv/bin/python bench/history_writer.py --lines 100000 --per-turn 500 --repeat 3

Two measurements, in one run, each on a fresh database file:

- baseline: C{append_lines} alone, batches of C{--batch} lines one after the other (each
  awaited): the most the store can take with this batch size;
- writer: a producer adds C{--per-turn} lines every reactor turn (C{callLater(0)} loop, as a
  busy 1000-member room would: every line said in a turn), and the clock runs until the
  writer has stored the last one (its C{flush}).  It also prints the producer's cost per
  C{add}, the longest the producer waited for a turn (what delivery would feel), how many
  transactions the writer made and the most lines that were waiting at once.  C{--rate N}
  paces the producer at N lines/s instead of as fast as it can (then the stored rate can only
  match the offered one; what matters is that the backlog stays small).

The figure is stored lines/s; the ratio writer/baseline says how much the write-behind costs
on top of the database.  Goal: at least 50 000 stored lines/s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from twisted.internet import defer, task

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from littlecats.storage import open_store
from littlecats.storage.interface import SAID, StoredLine
from littlecats.storage.writer import HistoryWriter

GOAL = 50_000


def make_lines(count: int, rooms: int) -> list[StoredLine]:
    """C{count} lines of typical chat length, ids increasing, spread over C{rooms} rooms."""
    base = 1_800_000_000_000_000
    return [
        StoredLine(base + i, f"room{i % rooms}", (base + i) / 1e6, SAID, f"user{i % 997}",
                   f"message {i}: the quick brown fox jumps over the lazy cat")
        for i in range(count)
    ]  # fmt: skip


async def baseline(reactor, path: Path, lines: list[StoredLine], batch: int) -> float:
    """append_lines alone, batch after batch: lines/s."""
    store = open_store(f"sqlite:{path}", reactor)
    try:
        started = time.perf_counter()
        for start in range(0, len(lines), batch):
            await store.append_lines(lines[start : start + batch])
        elapsed = time.perf_counter() - started
        assert await store.last_line_id() == lines[-1].id
    finally:
        await store.close()
    return len(lines) / elapsed


async def through_writer(
    reactor, path: Path, lines: list[StoredLine], per_turn: int, rate: float
) -> dict:
    """The writer fed C{per_turn} lines a reactor turn: lines/s until all are stored."""
    store = open_store(f"sqlite:{path}", reactor)
    transactions = [0]
    append_lines = store.append_lines

    def counting(batch):
        transactions[0] += 1
        return append_lines(batch)

    store.append_lines = counting
    writer = HistoryWriter(store, reactor, max_queue=len(lines) + 1)
    interval = per_turn / rate if rate else 0
    try:
        produced: defer.Deferred[None] = defer.Deferred()
        add_seconds = 0.0
        most_pending = 0
        gaps: list[float] = []
        last = [time.perf_counter()]

        def turn(start: int) -> None:
            nonlocal add_seconds, most_pending
            now = time.perf_counter()
            gaps.append(now - last[0])
            t0 = now
            add = writer.add
            for line in lines[start : start + per_turn]:
                add(line)
            last[0] = time.perf_counter()
            add_seconds += last[0] - t0
            most_pending = max(most_pending, writer.pending)
            if start + per_turn < len(lines):
                reactor.callLater(interval, turn, start + per_turn)
            else:
                produced.callback(None)

        started = time.perf_counter()
        last[0] = started
        reactor.callLater(0, turn, 0)
        await produced
        produced_at = time.perf_counter()
        await writer.flush(timeout=600)
        elapsed = time.perf_counter() - started
        assert writer.stored == len(lines) and writer.dropped == 0 and writer.failures == 0
        assert await store.last_line_id() == lines[-1].id
    finally:
        await store.close()
    return {
        "rate": len(lines) / elapsed,
        "produce_s": produced_at - started,
        "total_s": elapsed,
        "add_us": add_seconds / len(lines) * 1e6,
        "max_gap_ms": max(gaps) * 1e3,
        "transactions": transactions[0],
        "most_pending": most_pending,
    }


async def main(reactor, args: argparse.Namespace) -> None:
    lines = make_lines(args.lines, args.rooms)
    pace = f"paced at {args.rate:,.0f} lines/s" if args.rate else "as fast as it can"
    print(
        f"{args.lines:,} lines in {args.rooms} rooms; writer: {args.per_turn} lines per turn, "
        f"{pace}; baseline: append_lines batches of {args.batch}; "
        "SQLite (WAL, synchronous=NORMAL)"
    )
    best_base = best_writer = 0.0
    with tempfile.TemporaryDirectory(prefix="lc-bench-history-") as tmp:
        for run in range(args.repeat):
            base = await baseline(reactor, Path(tmp) / f"base{run}.db", lines, args.batch)
            result = await through_writer(
                reactor, Path(tmp) / f"writer{run}.db", lines, args.per_turn, args.rate
            )
            best_base, best_writer = max(best_base, base), max(best_writer, result["rate"])
            print(
                f"run {run + 1}: baseline append_lines {base:,.0f} lines/s | writer "
                f"{result['rate']:,.0f} stored lines/s (ratio {result['rate'] / base:.2f}); "
                f"produced in {result['produce_s']:.2f} s, all stored after "
                f"{result['total_s']:.2f} s; add {result['add_us']:.2f} us/line, longest "
                f"turn gap {result['max_gap_ms']:.1f} ms; {result['transactions']} transactions, "
                f"at most {result['most_pending']:,} lines waiting"
            )
    verdict = "PASS" if best_writer >= GOAL else "FAIL"
    print(
        f"best: baseline {best_base:,.0f} lines/s, writer {best_writer:,.0f} stored lines/s, "
        f"ratio writer/baseline {best_writer / best_base:.2f}; "
        f"goal >= {GOAL:,} stored lines/s: {verdict}"
    )


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=500_000)
    parser.add_argument("--per-turn", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=HistoryWriter.batch_size)
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--rate", type=float, default=0, help="offered lines/s (0: no pacing)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse()
    task.react(lambda reactor: defer.ensureDeferred(main(reactor, arguments)))
