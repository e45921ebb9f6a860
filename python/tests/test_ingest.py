"""Producers, governance rulesets and their counters."""

import threading

import numpy
import pytest

import mmsb
from conftest import make_pages


SLOTS = 16
RECORD = 12  # a 4-byte length and 8 payload bytes (docs/FORMAT.md "Ruleset")


def ingest_engine(engine, record_bytes=RECORD, slots=SLOTS):
    target, ring = make_pages(engine, 40, 8 + record_bytes * slots)
    engine.set_ruleset([
        mmsb.TopicRule(topic=1, page=target),
        mmsb.TopicRule(topic=2, page=ring, action="append", record_bytes=record_bytes),
        mmsb.TopicRule(topic=3, allow=False),
    ])
    return target, ring


def test_submit_and_flush(engine):
    target, _ = ingest_engine(engine)
    with engine.producer() as producer:
        first = producer.submit(1, b"hello")
        second = producer.submit(1, memoryview(b"world"))
        assert second == first + 1
    counters = producer.counters
    assert counters["submitted"] == 2 and counters["admitted"] == 2
    assert producer.completed_sequence == second
    assert producer.id >= 1
    assert bytes(engine.snapshot().read(target))[:5] == b"world"
    stats = engine.stats()
    assert stats["ingest_admitted"] == 2 and stats["ingest_producers"] >= 1


def test_denied_and_unknown_topics_are_counted(engine):
    ingest_engine(engine)
    producer = engine.producer()
    producer.submit(3, b"denied")
    producer.submit(99, b"unnamed")
    producer.flush()
    assert producer.counters["denied"] == 2 and producer.counters["admitted"] == 0


def test_submit_many_numpy_records(engine):
    _, ring = ingest_engine(engine)
    records = numpy.arange(16 * 8, dtype=numpy.uint8).reshape(16, 8)
    producer = engine.producer()
    assert producer.submit_many(2, records) == 16
    assert producer.submit_many(2, records.tobytes(), record_bytes=8) == 16
    producer.flush()
    assert producer.counters["admitted"] == 32
    page = numpy.frombuffer(engine.snapshot().read(ring), dtype=numpy.uint8)
    assert int(page[:8].view(numpy.uint64)[0]) == 32
    slots = page[8:].reshape(SLOTS, RECORD)
    assert (slots[:, :4].copy().view(numpy.uint32)[:, 0] == 8).all()
    assert (slots[:, 4:] == records).all()


def test_submit_errors(engine):
    ingest_engine(engine)
    producer = engine.producer()
    with pytest.raises(mmsb.InvalidArgumentError, match="payload"):
        producer.submit(1, "text is not bytes")
    with pytest.raises(mmsb.InvalidArgumentError, match="40"):
        producer.submit(1, b"x" * 41)
    with pytest.raises(mmsb.InvalidArgumentError, match="record_bytes"):
        producer.submit_many(2, b"x" * 16)
    with pytest.raises(mmsb.InvalidArgumentError, match="records"):
        producer.submit_many(2, numpy.zeros((4, 8), dtype=numpy.uint8)[:, ::2])
    with pytest.raises(mmsb.InvalidArgumentError):
        producer.submit_many(2, b"x" * 15, record_bytes=8)
    producer.flush()
    assert producer.counters["submitted"] == 0


def test_producer_options(engine):
    ingest_engine(engine)
    chosen = engine.producer(id=7, backpressure="fail_fast", ring_packets=64)
    assert chosen.id == 7
    with pytest.raises(mmsb.AlreadyExistsError, match="7"):
        engine.producer(id=7)
    with pytest.raises(mmsb.InvalidArgumentError, match="backpressure 'later'"):
        engine.producer(backpressure="later")
    engine.producer(backpressure="drop_oldest").flush()


def test_one_producer_one_thread(engine):
    ingest_engine(engine)
    producer = engine.producer()
    errors = []
    barrier = threading.Barrier(4)

    def submitter():
        barrier.wait()
        for _ in range(2000):
            try:
                producer.submit(1, b"race")
            except mmsb.FailedPreconditionError as error:
                errors.append(error)

    threads = [threading.Thread(target=submitter) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    producer.flush()
    counters = producer.counters
    # Each call either entered the ring or was refused by name; none was lost.
    assert counters["submitted"] + len(errors) == 8000
    assert counters["admitted"] == counters["submitted"]
    assert all("in use by another thread" in str(e) for e in errors)


def test_ruleset_rules(engine):
    (page,) = make_pages(engine, 40)
    rule = mmsb.TopicRule(topic=5, page=page, producers=[1], rate_per_second=1, burst=2)
    assert (rule.topic, rule.page, rule.allow) == (5, page, True)
    first = engine.set_ruleset([rule])
    assert len(first) == 16 and engine.set_ruleset([rule]) == first
    with pytest.raises(mmsb.InvalidArgumentError, match="action 'replace'"):
        mmsb.TopicRule(topic=1, action="replace")
    other = engine.producer(id=2)
    other.submit(5, b"not producer 1")
    other.flush()
    assert other.counters["denied"] == 1
    allowed = engine.producer(id=1)
    for _ in range(5):
        allowed.submit(5, b"bucket")
    allowed.flush()
    assert allowed.counters["admitted"] == 2 and allowed.counters["throttled"] == 3
