"""mmsb.Client against a real `mmsb serve`: the Engine's surface, the same roots."""

import threading

import pytest

import mmsb
from conftest import Server


def workload(engine):
    """One script for Engine and Client alike: pages, writes, edges, a derivation, a fork
    merged back; returns the roots it saw and the final page bytes."""
    roots = []
    txn = engine.begin()
    a = txn.create_page(size=8, initial=b"aaaaaaaa")
    b = txn.create_page(size=8, type=3)
    c = txn.create_page(size=16)
    info = txn.commit()
    a, b, c = info.created_pages
    roots.append(info.root)
    with engine.begin() as txn:
        txn.write(b, 4, b"bbbb")
        txn.add_edge(a, b)
        txn.derive(c, [a, b], mmsb.CONCAT)
    with engine.snapshot() as snap:
        roots.append(snap.root)
        derived = bytes(snap.read(c))
    fork = engine.fork()
    fork.write(a, 0, b"FORK")
    result = engine.merge(fork)
    roots.append(result.root)
    with engine.snapshot() as snap:
        roots.append(snap.root)
        pages = [bytes(snap.read(p)) for p in (a, b, c)]
    return roots, derived, pages


def test_same_workload_same_roots(tmp_path, client):
    with mmsb.Engine.open(str(tmp_path / "embedded"), durability="none") as engine:
        embedded = workload(engine)
    remote = workload(client)
    assert remote == embedded
    assert embedded[1] == b"aaaaaaaa\0\0\0\0bbbb"
    assert embedded[2][2] == b"FORKaaaa\0\0\0\0bbbb"


def test_remote_transactions_and_errors(client):
    txn = client.begin()
    txn.create_page(size=4)
    info = txn.commit()
    (page,) = info.created_pages
    with client.begin() as txn:
        assert bytes(txn.read(page)) == b"\0" * 4
        txn.put(page, b"abcd")
    with pytest.raises(ValueError):
        with client.begin() as txn:
            txn.put(page, b"zzzz")
            raise ValueError("abandon")
    with client.snapshot() as snap:
        assert bytes(snap.read(page)) == b"abcd"
        assert snap.page(page).size == 4 and snap.page(page).epoch == 1
        with pytest.raises(mmsb.NotFoundError, match="999"):
            snap.read(999)
    with pytest.raises(mmsb.FailedPreconditionError, match="closed"):
        snap.read(page)
    txn = client.begin()
    txn.write(999, 0, b"x")
    with pytest.raises(mmsb.NotFoundError, match="999"):
        txn.commit()
    with pytest.raises(mmsb.InvalidArgumentError, match="policy 'mine'"):
        client.merge(client.fork(), policy="mine")


def test_remote_conflict_and_merge_policies(client):
    (page,) = _one_page(client)
    reader = client.begin()
    reader.read(page)
    reader.put(page, b"mine")
    with client.begin() as other:
        other.put(page, b"them")
    with pytest.raises(mmsb.ConflictError):
        reader.commit()
    fork = client.fork()
    fork.write(page, 0, b"fork")
    assert bytes(fork.read(page)) == b"fork"
    with client.begin() as txn:
        txn.put(page, b"ours")
    with pytest.raises(mmsb.ConflictError, match=str(page)):
        client.merge(fork)
    assert client.merge(fork, policy="theirs").clashes_resolved == 1
    with client.snapshot() as snap:
        assert bytes(snap.read(page)) == b"fork"
    other = client.fork()
    other.drop()


def _one_page(client):
    txn = client.begin()
    txn.create_page(size=4)
    return txn.commit().created_pages


def test_remote_subscribe_checkpoint_replay_stats(client):
    (page,) = _one_page(client)
    got = []
    done = threading.Event()

    def callback(tick, events, dropped):
        got.append(events)
        done.set()

    subscription = client.subscribe(callback, pages=[page])
    with client.begin() as txn:
        txn.put(page, b"ping")
    assert done.wait(30)
    client.unsubscribe(subscription)
    assert got[0] == [("applied", page, 1)]
    assert client.checkpoint() == 2
    replayed = client.replay(to=1)
    assert replayed["tick"] == 1
    assert client.replay(verify=True)["tick"] == 2
    assert client.stats()["transactions_committed"] == 2


def test_remote_producer(tmp_path):
    data = tmp_path / "served"
    with mmsb.Engine.open(str(data), durability="none") as engine:
        txn = engine.begin()
        txn.create_page(size=40)
        (page,) = txn.commit().created_pages
        engine.set_ruleset([mmsb.TopicRule(topic=1, page=page)])
    server = Server(data)
    try:
        with mmsb.Client(server.address) as client:
            with client.producer(batch_packets=16) as producer:
                producer.submit(1, b"remote packet")
                assert producer.submit_many(1, b"r" * 40, record_bytes=8) == 5
            assert producer.counters["admitted"] == 6
            with pytest.raises(mmsb.InvalidArgumentError, match="record_bytes"):
                producer.submit_many(1, b"r" * 40, record_bytes=41)
            with client.snapshot() as snap:
                assert bytes(snap.read(page))[:8] == b"r" * 8
    finally:
        assert server.stop() == 0


def test_connect_errors(tmp_path):
    with pytest.raises(mmsb.Error, match="127.0.0.1:1"):
        mmsb.Client("127.0.0.1:1", timeout_ms=2000)
    with pytest.raises(mmsb.InvalidArgumentError):
        mmsb.Client("no port here")
    token = tmp_path / "token"
    token.write_text("secret\n")
    server = Server(tmp_path / "guarded", "--token-file", str(token))
    try:
        with pytest.raises(mmsb.PermissionDeniedError):
            mmsb.Client(server.address, token="wrong")
        with mmsb.Client(server.address, token="secret") as client:
            assert client.stats()["ticks"] == 0
        client.close()
        with pytest.raises(mmsb.UnavailableError, match="closed"):
            client.begin()
    finally:
        assert server.stop() == 0
