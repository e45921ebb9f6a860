"""Agents sharing state through mmsb: two worker threads claim and finish tasks on a shared
board, a derived page keeps the board's summary, a subscriber watches it, and a planner
tries a re-plan in a fork and merges it back while the board moves on.

    PYTHONPATH=build/release/python /usr/bin/python3 examples/python/agents.py [DIR]

The board is one page of TASKS bytes (0 open, 1+a claimed by agent a, 8 audited, 9 done). Claims are
optimistic: an agent reads the board in its transaction, and commit() raises ConflictError
if another agent changed it first; the agent then reads again and retries. Nothing decides
by thread timing what the board ends as: every task ends done, whoever did it.
"""

import struct
import sys
import tempfile
import threading

import mmsb

TASKS = 32
OPEN, AUDITED, DONE = 0, 8, 9


def summarize(parents, current):
    """The summary page: counts of open, claimed and done tasks (three u32)."""
    board = parents[0]
    done = board.count(DONE)
    open_ = board.count(OPEN)
    return struct.pack("<III", open_, TASKS - open_ - done, done)


def agent(engine, board, number, log):
    claimed = finished = conflicts = 0
    while True:
        try:
            with engine.begin() as txn:
                tasks = bytes(txn.read(board))  # read and checked at commit
                if OPEN not in tasks:
                    break
                task = tasks.index(OPEN)
                txn.write(board, task, bytes([1 + number]))
            claimed += 1
            with engine.begin() as txn:  # the task is ours: finishing it cannot conflict
                txn.write(board, task, bytes([DONE]))
            finished += 1
        except mmsb.ConflictError:
            conflicts += 1  # someone changed the board first: look again
    log.append((number, finished, conflicts))


def main(data):
    with mmsb.Engine.open(data, durability="none", workers=2) as engine:
        engine.register_function("summarize", summarize)
        with engine.begin() as txn:
            board = txn.create_page(size=TASKS)
            summary = txn.create_page(size=12)
            txn.derive(summary, [board], "summarize")
        board, summary = txn.info.created_pages

        # A watcher: the summary's changes arrive on the engine's event thread.
        changes = []
        watch = engine.subscribe(lambda tick, events, dropped: changes.append(tick),
                                 pages=[summary], types=["changed"])

        log = []
        workers = [threading.Thread(target=agent, args=(engine, board, n, log)) for n in (1, 2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        opened, claimed, done = struct.unpack("<III", engine.snapshot().read(summary))
        print(f"agents finished: open {opened}, claimed {claimed}, done {done}")
        for number, finished, conflicts in sorted(log):
            print(f"  agent {number}: {finished} tasks, {conflicts} conflicts retried")
        assert done == TASKS and sum(entry[1] for entry in log) == TASKS

        # The planner's what-if, in a fork no one else sees: reopen the last four tasks.
        fork = engine.fork()
        fork.write(board, TASKS - 4, bytes([OPEN] * 4))
        with engine.begin() as txn:  # meanwhile the board moves on: task 0 is audited
            txn.write(board, 0, bytes([AUDITED]))
        merged = engine.merge(fork)  # other bytes of the same page: both changes kept
        opened, claimed, done = struct.unpack("<III", engine.snapshot().read(summary))
        print(f"re-plan merged ({merged.path}, {merged.pages_merged} page merged): "
              f"open {opened}, done {done}")
        assert (opened, done) == (4, TASKS - 5)
        assert engine.snapshot().read(board)[0] == AUDITED
        engine.unsubscribe(watch)
        print(f"the summary changed in {len(changes)} ticks")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as directory:
            main(directory)
