"""Benchmarks of the Python module, each with its peer measured in the same run.

    PYTHONPATH=build/release/python /usr/bin/python3 bench/python/bench_python.py \
        [--cpp build/release/bench/mmsb_bench] [--seconds S]

  submit       single Producer.submit calls of 16-byte payloads       target >= 1M packets/s
  submit_many  Producer.submit_many of (65536, 16) uint8 numpy batches target >= 5M packets/s
               peer: BM_ingest_end_to_end/producers:1 (C++ submit_batch, same engine path)
  txn          small transactions (one 16-byte write, durability none), committed one after
               another from one thread; peer: BM_embedded_commit_sync (the same in C++)
  read         snapshot.read + numpy.frombuffer of a 1 KiB and a 1 MiB page (zero-copy: the
               two within 2x); baseline: copying the 1 MiB page (bytes(view))

Every loop is bounded in count and in time (--seconds each, default 1); each figure is the
median of three rounds.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time

import numpy

import mmsb


ROUNDS = 3  # each figure is the median of this many rounds, the C++ peers' too


def median_of_rounds(bench, seconds):
    """The median of ROUNDS runs, each on a data directory of its own removed after it: a
    round's log (hundreds of MB for the packet rounds) must not slow the next one's writes."""
    results = []
    for _ in range(ROUNDS):
        with tempfile.TemporaryDirectory() as data:
            results.append(bench(data + "/data", seconds))
    if isinstance(results[0], dict):
        return {key: statistics.median(r[key] for r in results) for key in results[0]}
    return statistics.median(results)


def timed(step, count_per_step, seconds, max_steps):
    """Runs step() until `seconds` pass or `max_steps` ran; the rate in items per second."""
    step()  # warm up
    steps = 0
    start = time.perf_counter()
    while steps < max_steps:
        step()
        steps += 1
        if time.perf_counter() - start >= seconds:
            break
    return steps * count_per_step / (time.perf_counter() - start)


def ingest_engine(data):
    engine = mmsb.Engine.open(data, durability="none")
    txn = engine.begin()
    txn.create_page(size=40)
    (page,) = txn.commit().created_pages
    engine.set_ruleset([mmsb.TopicRule(topic=1, page=page)])
    return engine


def bench_submit(data, seconds):
    with ingest_engine(data) as engine:
        producer = engine.producer(ring_packets=1 << 16)
        payload = b"sixteen byte pay"
        submit = producer.submit
        per_step = 10_000

        def step():
            for _ in range(per_step):
                submit(1, payload)
            producer.flush()

        rate = timed(step, per_step, seconds, 2_000)
        assert producer.counters["refused"] == 0
        return rate


def bench_submit_many(data, seconds):
    with ingest_engine(data) as engine:
        producer = engine.producer(ring_packets=1 << 16)
        # The C++ peer's payload (governance_bench.cpp packets_over_topics), one per row.
        batch = numpy.frombuffer(b"sixteen byte pay" * 65536, dtype=numpy.uint8).reshape(65536, 16)

        def step():
            entered = producer.submit_many(1, batch)  # "block": the whole batch enters
            assert entered == len(batch), entered
            producer.flush()

        rate = timed(step, len(batch), seconds, 500)
        assert producer.counters["admitted"] == producer.counters["submitted"]
        return rate


def bench_txn(data, seconds):
    with mmsb.Engine.open(data, durability="none") as engine:
        txn = engine.begin()
        for _ in range(64):
            txn.create_page(size=1024)
        pages = txn.commit().created_pages
        payload = b"0123456789abcdef"
        counter = [0]

        def step():
            for _ in range(100):
                counter[0] += 1
                with engine.begin() as txn:
                    txn.write(pages[counter[0] % 64], (counter[0] * 16) % 1024, payload)

        return timed(step, 100, seconds, 10_000)


def bench_read(data, seconds):
    """Reads per second of a page of each size, and copies per second of the large one."""
    with mmsb.Engine.open(data, durability="none") as engine:
        txn = engine.begin()
        txn.create_page(size=1024)
        txn.create_page(size=1 << 20)
        small, large = txn.commit().created_pages
        snap = engine.snapshot()
        rates = {}
        for name, page in (("1KiB", small), ("1MiB", large)):
            def step(page=page):
                for _ in range(1000):
                    array = numpy.frombuffer(snap.read(page), dtype=numpy.uint8)
                assert array.nbytes == snap.page(page).size

            rates[name] = timed(step, 1000, seconds, 10_000)

        def copy():
            for _ in range(10):
                bytes(snap.read(large))

        rates["copy_1MiB"] = timed(copy, 10, seconds, 10_000)
        return rates


def cpp_peers(binary, seconds):
    """items/s of the C++ peers, measured now by the C++ benchmark binary."""
    wanted = "BM_embedded_commit_sync|BM_ingest_end_to_end/producers:1/fsync:0/swap:0"
    out = subprocess.run([binary, f"--benchmark_filter={wanted}", "--benchmark_format=json",
                          f"--benchmark_min_time={seconds}", f"--benchmark_repetitions={ROUNDS}",
                          "--benchmark_report_aggregates_only=true"],
                         check=True, capture_output=True, text=True, timeout=300).stdout
    rates = {}
    for result in json.loads(out)["benchmarks"]:
        if result.get("aggregate_name") != "median":
            continue
        name = "txn" if result["name"].startswith("BM_embedded_commit_sync") else "ingest"
        rates[name] = result["items_per_second"]
    return rates


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpp", help="mmsb_bench, for the C++ peers measured in the same run")
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    submit = median_of_rounds(bench_submit, args.seconds)
    many = median_of_rounds(bench_submit_many, args.seconds)
    txn = median_of_rounds(bench_txn, args.seconds)
    read = median_of_rounds(bench_read, args.seconds)
    peers = cpp_peers(args.cpp, args.seconds) if args.cpp else {}

    def vs(rate, peer):
        return f" ({rate / peers[peer]:.2f}x C++ {peers[peer]:,.0f}/s)" if peer in peers else ""

    print(f"python submit       {submit / 1e6:8.2f}M packets/s  target >= 1M{vs(submit, 'ingest')}")
    print(f"python submit_many  {many / 1e6:8.2f}M packets/s  target >= 5M{vs(many, 'ingest')}")
    print(f"python txn          {txn / 1e3:8.1f}k commits/s{vs(txn, 'txn')}")
    ratio = read["1KiB"] / read["1MiB"]
    print(f"python read 1KiB    {read['1KiB'] / 1e6:8.2f}M reads/s")
    print(f"python read 1MiB    {read['1MiB'] / 1e6:8.2f}M reads/s   1KiB/1MiB {ratio:.2f}x "
          f"(target <= 2x); a 1 MiB copy: {read['copy_1MiB'] / 1e3:.1f}k/s, "
          f"{read['1MiB'] / read['copy_1MiB']:.0f}x slower than the view")
    return 0


if __name__ == "__main__":
    sys.exit(main())
