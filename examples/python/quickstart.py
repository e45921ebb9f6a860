"""mmsb from Python in one page: the README's "Python" section.

    PYTHONPATH=build/release/python /usr/bin/python3 examples/python/quickstart.py [DIR]

Opens an engine (DIR, or a temporary directory), writes sensor readings in transactions,
keeps a summary page derived from them by a Python function, reads pages zero-copy into
numpy, tries a change in a fork and merges it back, then replays the log to the same root.
"""

import struct
import sys
import tempfile

import numpy

import mmsb

SENSORS = 4


def summary(parents, current):
    """The derived page: mean and max of the readings page (float64 each)."""
    readings = numpy.frombuffer(parents[0], dtype=numpy.float64)
    return struct.pack("<dd", readings.mean(), readings.max())


def main(data):
    with mmsb.Engine.open(data, durability="fsync") as engine:
        engine.register_function("summary", summary)  # again after every open

        # One transaction: two pages and the derivation that ties them.
        with engine.begin() as txn:
            readings = txn.create_page(size=8 * SENSORS)
            stats = txn.create_page(size=16)
            txn.derive(stats, [readings], "summary")
        readings, stats = txn.info.created_pages
        print(f"created pages {readings} and {stats} at tick {txn.info.tick}")

        # Writes commit atomically; the summary recomputes in the same tick.
        for hour in range(3):
            with engine.begin() as txn:
                values = numpy.array([20.0 + hour + s for s in range(SENSORS)])
                txn.put(readings, values.tobytes())

        # A snapshot is one immutable version; reads are zero-copy numpy views.
        snap = engine.snapshot()
        values = numpy.frombuffer(snap.read(readings), dtype=numpy.float64)
        mean, peak = struct.unpack("<dd", snap.read(stats))
        print(f"tick {snap.tick}: readings {values.tolist()} mean {mean} max {peak}")
        assert not values.flags.writeable  # the engine's memory: read-only

        # What if sensor 0 read 30 degrees? Try it in a fork, then merge it back.
        fork = engine.fork()
        fork.write(readings, 0, struct.pack("<d", 30.0))
        print("fork sees sensor 0 at", struct.unpack("<d", fork.read(readings)[:8])[0],
              "; the engine still", values[0])
        merged = engine.merge(fork)
        mean, peak = struct.unpack("<dd", engine.snapshot().read(stats))
        print(f"merged at tick {merged.tick}: mean {mean} max {peak}")

        # Errors name what is wrong and change nothing.
        try:
            with engine.begin() as txn:
                txn.write(readings, 30, b"too long for the page")
        except mmsb.InvalidArgumentError as error:
            print("refused:", error)
        root = engine.snapshot().root

    # The log replays bit for bit, without opening an engine.
    replayed = mmsb.replay(data)
    assert replayed.root == root
    print(f"replayed to tick {replayed.tick}: root {root.hex()} (the same)")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as directory:
            main(directory)
