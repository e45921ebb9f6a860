"""Python derivation functions, rules and subscribers: the GIL, threads, failures, close."""

import _thread
import sys
import threading
import time

import pytest

import mmsb
from conftest import make_pages


def double(parents, current):
    return bytes(2 * b % 256 for b in parents[0])


def test_python_derivation_function(engine):
    engine.register_function("double", double)
    a, b = make_pages(engine, 4, 4)
    engine.derive(b, [a], "double")
    with engine.begin() as txn:
        txn.put(a, b"\x01\x02\x03\x04")
    snap = engine.snapshot()
    assert bytes(snap.read(b)) == b"\x02\x04\x06\x08"
    assert snap.derivation(b) == ("double", [a])
    assert snap.derivation(a) is None
    assert engine.stats()["derived_recomputes"] >= 1


def test_builtin_functions(engine):
    a, b, both, copy = make_pages(engine, 2, 2, 4, 2)
    with engine.begin() as txn:
        txn.put(a, b"ab")
        txn.put(b, b"cd")
        txn.derive(both, [a, b], mmsb.CONCAT)
        txn.derive(copy, [b], mmsb.PASSTHROUGH)
    snap = engine.snapshot()
    assert bytes(snap.read(both)) == b"abcd" and bytes(snap.read(copy)) == b"cd"


def test_raising_function_fails_the_tick_with_its_traceback(engine):
    def broken(parents, current):
        return {}["missing key"]

    engine.register_function("broken", broken)
    a, b = make_pages(engine, 4, 4)
    with pytest.raises(mmsb.InternalError) as raised:
        engine.derive(b, [a], "broken")
    message = str(raised.value)
    assert "function 'broken'" in message
    assert "Traceback (most recent call last)" in message and "KeyError: 'missing key'" in message
    assert "in broken" in message
    assert engine.snapshot().derivation(b) is None  # nothing of the tick landed


def test_function_raising_mmsb_error_keeps_its_code(engine):
    def refuses(parents, current):
        raise mmsb.InvalidArgumentError("no, thank you")

    engine.register_function("refuses", refuses)
    a, b = make_pages(engine, 4, 4)
    with pytest.raises(mmsb.InvalidArgumentError, match="no, thank you"):
        engine.derive(b, [a], "refuses")


@pytest.mark.parametrize("result, message", [(b"toolong", "returned 7 bytes for a page of 4"),
                                             (None, "expected a bytes-like object, got <class 'NoneType'>"),
                                             (7, "the result of derivation function 'wrong'")])
def test_function_result_must_be_page_sized_bytes(engine, result, message):
    engine.register_function("wrong", lambda parents, current: result)
    a, b = make_pages(engine, 4, 4)
    with pytest.raises(mmsb.Error, match=message):
        engine.derive(b, [a], "wrong")


def test_register_errors(engine):
    with pytest.raises(TypeError):
        engine.register_function("not.callable", 42)
    engine.register_function("twice", double)
    with pytest.raises(mmsb.AlreadyExistsError, match="twice"):
        engine.register_function("twice", double)
    with pytest.raises(mmsb.NotFoundError, match="no.rule"):
        engine.rule_status("no.rule")


def increment_rule(engine, name="inc", **options):
    def footprint(view, scope):
        return [scope], [scope]

    def executor(view, scope, sink):
        current = view.read(scope)
        assert view.page(scope).size == 4
        sink.write(scope, 0, bytes([current[0] + 1]))

    engine.register_rule(name, footprint, executor, **options)


def test_rule_apply_and_receipts(engine):
    increment_rule(engine)
    (page,) = make_pages(engine, 4)
    info = engine.apply("inc", page)
    assert [(r.scope, r.outcome, r.attempt) for r in info.receipts] == [(page, "applied", 1)]
    assert info.receipts[0].family
    with engine.begin() as txn:
        txn.apply("inc", page)
    assert engine.snapshot().read(page)[0] == 2
    engine.rule_status("inc")  # registered and running: returns


def test_standing_rule_with_matcher(engine):
    seen = []

    def matcher(view, scope):
        seen.append(scope)
        return view.read(scope)[0] < 3

    increment_rule(engine, "grow", matcher=matcher, standing_type=5)
    txn = engine.begin()
    page = txn.create_page(size=4, type=5)
    txn.create_page(size=4, type=6)
    info = txn.commit()
    for _ in range(5):
        with engine.begin() as txn:
            pass
    assert engine.snapshot().read(info.created_pages[0])[0] == 3
    assert engine.snapshot().read(info.created_pages[1])[0] == 0
    assert set(seen) == {info.created_pages[0]}
    assert page != 0


def test_standing_rule_that_depends_only_on_its_footprint(engine):
    seen = []

    def matcher(view, scope):
        seen.append(scope)
        return view.read(scope)[0] < 3

    increment_rule(engine, "settle", matcher=matcher, standing_type=5,
                   depends_only_on_footprint=True)
    txn = engine.begin()
    txn.create_page(size=4, type=5)
    page = txn.commit().created_pages[0]
    for _ in range(6):
        with engine.begin() as txn:
            pass
    # Grows to 3 in three ticks, then rests: its "no" is kept, not asked again.
    assert engine.snapshot().read(page)[0] == 3
    assert len(seen) == 4
    assert engine.stats()["rule_tick_matches_reused"] == 1


def test_rule_callback_failures(engine):
    (page,) = make_pages(engine, 4)
    engine.register_rule("bad.footprint", lambda view, scope: "nonsense", lambda v, s, sink: None)
    with pytest.raises(mmsb.InvalidArgumentError, match="expected a \\(reads, writes\\) pair"):
        engine.apply("bad.footprint", page)

    def raising(view, scope, sink):
        raise ValueError("executor says no")

    engine.register_rule("bad.executor", lambda view, scope: ([scope], [scope]), raising)
    with pytest.raises(mmsb.InternalError, match="(?s)Traceback.*ValueError: executor says no"):
        engine.apply("bad.executor", page)

    def outside(view, scope, sink):
        sink.write(scope + 1000, 0, b"x")

    engine.register_rule("outside", lambda view, scope: ([scope], [scope]), outside)
    with pytest.raises(mmsb.Error, match="footprint"):
        engine.apply("outside", page)
    assert bytes(engine.snapshot().read(page)) == b"\0" * 4


def test_rule_handles_are_invalid_after_the_callback(engine):
    kept = []

    def executor(view, scope, sink):
        kept.append((view, sink))

    engine.register_rule("keep", lambda view, scope: ([scope], [scope]), executor)
    (page,) = make_pages(engine, 4)
    engine.apply("keep", page)
    view, sink = kept[0]
    with pytest.raises(mmsb.FailedPreconditionError, match="only valid during its callback"):
        view.read(page)
    with pytest.raises(mmsb.FailedPreconditionError, match="only valid during its callback"):
        sink.write(page, 0, b"x")


def test_subscriber_gets_events_on_its_thread(engine):
    (page,) = make_pages(engine, 4)
    got = []
    done = threading.Event()

    def callback(tick, events, dropped):
        got.append((tick, events, dropped, threading.get_ident()))
        done.set()

    subscription = engine.subscribe(callback, pages=[page], types=["applied"])
    with engine.begin() as txn:
        txn.put(page, b"ping")
    assert done.wait(30)
    engine.unsubscribe(subscription)
    tick, events, dropped, thread = got[0]
    assert tick == 2 and dropped == 0 and thread != threading.get_ident()
    assert events == [("applied", page, 1)]
    with pytest.raises(mmsb.InvalidArgumentError, match="colour"):
        engine.subscribe(callback, types=["colour"])


def test_raising_subscriber_is_reported_and_counted(engine, monkeypatch):
    reported = []
    done = threading.Event()

    def hook(unraisable):
        reported.append(unraisable.exc_type)
        done.set()

    def callback(tick, events, dropped):
        raise RuntimeError("subscriber bug")

    monkeypatch.setattr(sys, "unraisablehook", hook)
    subscription = engine.subscribe(callback)
    make_pages(engine, 4)
    assert done.wait(30)
    deadline = time.monotonic() + 30
    while engine.stats()["subscriber_errors"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert engine.stats()["subscriber_errors"] == 1
    engine.unsubscribe(subscription)
    assert reported == [RuntimeError]
    make_pages(engine, 4)  # the engine goes on


def test_commits_from_many_threads_with_python_functions(tmp_path):
    with mmsb.Engine.open(str(tmp_path / "d"), durability="none", workers=2) as engine:
        engine.register_function("double", double)
        pages = make_pages(engine, *([4] * 8))
        outputs = make_pages(engine, *([4] * 8))
        with engine.begin() as txn:
            for page, output in zip(pages, outputs):
                txn.derive(output, [page], "double")
        errors = []

        def writer(index):
            try:
                for round_ in range(50):
                    with engine.begin() as txn:
                        txn.put(pages[index], bytes([round_, index, 0, 1]))
            except Exception as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == [] and not any(t.is_alive() for t in threads)
        snap = engine.snapshot()
        for index, (page, output) in enumerate(zip(pages, outputs)):
            assert bytes(snap.read(page)) == bytes([49, index, 0, 1])
            assert bytes(snap.read(output)) == bytes([98, 2 * index, 0, 2])


def blocking_function(engine, release):
    """Registers "blocks": it waits for `release` (set now: cleared, it holds the tick)."""
    entered = threading.Event()
    release.set()

    def blocks(parents, current):
        entered.set()
        release.wait(60)
        return bytes(parents[0])

    engine.register_function("blocks", blocks)
    return entered


def test_ctrl_c_during_flush_leaves_the_engine_usable(engine):
    release = threading.Event()
    entered = blocking_function(engine, release)
    source, mirror = make_pages(engine, 40, 40)
    engine.derive(mirror, [source], "blocks")
    entered.clear()
    release.clear()
    engine.set_ruleset([mmsb.TopicRule(topic=1, page=source)])
    producer = engine.producer()
    producer.submit(1, b"a packet that waits for its derivations.")
    assert entered.wait(30)  # the tick is held by the Python function
    timer = threading.Timer(0.2, _thread.interrupt_main)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        producer.flush()
    timer.join()
    release.set()
    producer.flush()  # the same producer, waited for again
    assert producer.counters["admitted"] == 1
    snap = engine.snapshot()
    assert bytes(snap.read(mirror)) == b"a packet that waits for its derivations."
    make_pages(engine, 4)


def test_close_with_callbacks_in_flight_does_not_deadlock(tmp_path):
    engine = mmsb.Engine.open(str(tmp_path / "d"), durability="none")
    release = threading.Event()
    entered = blocking_function(engine, release)
    calls = []
    engine.subscribe(lambda tick, events, dropped: (time.sleep(0.01), calls.append(tick)))
    source, mirror = make_pages(engine, 4, 4)
    release.clear()
    committer = threading.Thread(target=lambda: engine.derive(mirror, [source], "blocks"))
    committer.start()
    assert entered.wait(30)
    closer = threading.Thread(target=engine.close)
    closer.start()
    time.sleep(0.1)  # close() is waiting for the tick, which waits for the function
    release.set()
    closer.join(60)
    committer.join(60)
    assert not closer.is_alive() and not committer.is_alive()
    assert engine.closed
    assert calls  # the subscriber ran while the engine was open
