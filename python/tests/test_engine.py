"""Engine.open, transactions, snapshots and their errors."""

import gc

import pytest

import mmsb
from conftest import make_pages


def test_open_options_and_close(tmp_path):
    engine = mmsb.Engine.open(str(tmp_path / "d"), durability="fsync", workers=2,
                              page_size_max=1 << 20, tick_transactions_max=64,
                              event_queue_batches=16, checkpoints_kept=2)
    assert engine.dir == str(tmp_path / "d")
    assert not engine.closed
    engine.close()
    assert engine.closed
    engine.close()  # closing twice is harmless
    with pytest.raises(mmsb.UnavailableError, match="closed"):
        engine.snapshot()


@pytest.mark.parametrize("kwargs, message", [
    ({"durability": "sometimes"}, "durability 'sometimes': expected one of 'none', 'flush', 'fsync'"),
    ({"colour": "blue"}, "unknown option 'colour'"),
])
def test_open_rejects_bad_options(tmp_path, kwargs, message):
    with pytest.raises(mmsb.InvalidArgumentError, match=message) as raised:
        mmsb.Engine.open(str(tmp_path / "d"), **kwargs)
    assert raised.value.code == "InvalidArgument"
    assert isinstance(raised.value, mmsb.Error)


def test_open_rejects_a_file_as_directory(tmp_path):
    (tmp_path / "file").write_bytes(b"not a directory")
    with pytest.raises(mmsb.Error, match="file"):
        mmsb.Engine.open(str(tmp_path / "file"))


def test_transaction_commit_info(engine):
    txn = engine.begin()
    first = txn.create_page(size=8, type=7, initial=b"abcdefgh")
    second = txn.create_page(size=4)
    edge = txn.add_edge(first, second)
    assert txn.open
    info = txn.commit()
    assert not txn.open
    assert info.tick == 1
    assert len(info.root) == 16
    assert len(info.created_pages) == 2 and len(info.created_edges) == 1
    assert first != 0 and edge != 0
    assert "CommitInfo(tick=1" in repr(info)
    snap = engine.snapshot()
    assert snap.tick == 1 and snap.root == info.root
    page = snap.page(info.created_pages[0])
    assert (page.type, page.size, page.epoch) == (7, 8, 0)
    assert bytes(snap.read(info.created_pages[0])) == b"abcdefgh"
    assert bytes(snap.read(info.created_pages[1])) == b"\0" * 4
    assert snap.edges(info.created_pages[1]) == [
        (info.created_edges[0], mmsb.USER_EDGE_KIND, info.created_pages[0], info.created_pages[1])]
    assert snap.edge_count == 1


def test_write_put_delete_and_remove_edge(engine):
    a, b = make_pages(engine, 8, 8)
    txn = engine.begin()
    txn.write(a, 2, b"xy")
    txn.put(b, bytearray(b"12345678"))
    edge = txn.add_edge(a, b, kind=mmsb.USER_EDGE_KIND + 1)
    info = txn.commit()
    snap = engine.snapshot()
    assert bytes(snap.read(a)) == b"\0\0xy\0\0\0\0"
    assert bytes(snap.read(b)) == b"12345678"
    assert snap.page(a).epoch == 1  # one change since the page was made
    edge = info.created_edges[0]
    with engine.begin() as txn:
        txn.remove_edge(edge)
        txn.delete_page(b)
    snap = engine.snapshot()
    assert b not in snap and a in snap and len(snap) == 1
    assert snap.edges(a) == []
    with pytest.raises(mmsb.NotFoundError, match=str(b)):
        snap.read(b)
    with pytest.raises(mmsb.NotFoundError):
        snap.page(b)


def test_context_manager_commits_or_abandons(engine):
    (page,) = make_pages(engine, 4)
    with engine.begin() as txn:
        assert txn.info is None
        txn.write(page, 0, b"good")
    assert txn.open is False
    assert txn.info.tick == engine.snapshot().tick
    with pytest.raises(RuntimeError, match="user code"):
        with engine.begin() as txn:
            txn.write(page, 0, b"evil")
            raise RuntimeError("user code")
    assert bytes(engine.snapshot().read(page)) == b"good"
    with pytest.raises(mmsb.FailedPreconditionError, match="already committed or abandoned"):
        txn.write(page, 0, b"late")
    with pytest.raises(mmsb.FailedPreconditionError):
        txn.commit()


@pytest.mark.parametrize("operation, message", [
    (lambda txn, page: txn.write(page, 2, b"toolong"), "write"),
    (lambda txn, page: txn.put(page, b"short"), "put"),
    (lambda txn, page: txn.write(999, 0, b"x"), "999"),
    (lambda txn, page: txn.delete_page(999), "999"),
    (lambda txn, page: txn.add_edge(page, 999), "999"),
    (lambda txn, page: txn.derive(page, [999], mmsb.PASSTHROUGH), "999"),
    (lambda txn, page: txn.derive(page, [page], "no.such.function"), "no.such.function"),
    (lambda txn, page: txn.apply("no.such.rule", page), "no.such.rule"),
    (lambda txn, page: txn.create_page(size=0), "size"),
])
def test_bad_operations_fail_the_commit_and_change_nothing(engine, operation, message):
    (page,) = make_pages(engine, 4)
    before = engine.snapshot()
    txn = engine.begin()
    txn.write(page, 0, b"keep")  # an operation that would succeed: it must not land either
    with pytest.raises(mmsb.Error, match=message):
        operation(txn, page)
        txn.commit()
    after = engine.snapshot()
    assert bytes(after.read(page)) == bytes(before.read(page)) == b"\0" * 4
    assert after.page(page).epoch == before.page(page).epoch
    assert len(after) == len(before)


@pytest.mark.parametrize("data", [None, 42, "text", [1, 2]])
def test_data_must_be_bytes_like(engine, data):
    (page,) = make_pages(engine, 4)
    txn = engine.begin()
    with pytest.raises((mmsb.InvalidArgumentError, TypeError), match="data"):
        txn.write(page, 0, data)
    txn.abandon()


def test_initial_must_match_size(engine):
    txn = engine.begin()
    txn.create_page(size=4, initial=b"toolong")
    with pytest.raises(mmsb.InvalidArgumentError, match="initial content of 7 bytes for a page of 4"):
        txn.commit()
    assert len(engine.snapshot()) == 0


def test_conflicting_read_fails_with_conflict_error(engine):
    (page,) = make_pages(engine, 4)
    reader = engine.begin()
    assert bytes(reader.read(page)) == b"\0" * 4
    reader.write(page, 0, b"mine")
    with engine.begin() as other:
        other.write(page, 0, b"them")
    with pytest.raises(mmsb.ConflictError, match=str(page)):
        reader.commit()
    assert bytes(engine.snapshot().read(page)) == b"them"


def test_snapshot_iteration_and_repr(engine):
    ids = make_pages(engine, 1, 2, 3)
    snap = engine.snapshot()
    assert list(snap) == sorted(ids)
    assert [p.size for p in snap.pages()] == [1, 2, 3]
    assert [p.id for p in snap.pages()] == sorted(ids)
    assert len(snap) == 3 and all(i in snap for i in ids) and 12345 not in snap
    assert repr(snap).startswith("Snapshot(tick=1, pages=3, root=")
    assert repr(snap.page(ids[0])).startswith("PageInfo(id=")
    with snap as same:
        assert same is snap
    snap.close()


def test_snapshots_are_isolated(engine):
    (page,) = make_pages(engine, 4)
    old = engine.snapshot()
    with engine.begin() as txn:
        txn.put(page, b"next")
    assert bytes(old.read(page)) == b"\0" * 4
    assert bytes(engine.snapshot().read(page)) == b"next"
    assert old.root != engine.snapshot().root


def test_read_is_zero_copy_and_read_only(engine):
    import numpy

    (page,) = make_pages(engine, 4096)
    with engine.begin() as txn:
        txn.write(page, 0, bytes(range(256)) * 16)
    snap = engine.snapshot()
    view = snap.read(page)
    assert view.readonly and view.nbytes == 4096
    array = numpy.frombuffer(view, dtype=numpy.uint8)
    assert array.ctypes.data == snap.page(page).address  # the page's own bytes, not a copy
    assert not array.flags.writeable
    with pytest.raises(ValueError):
        array[0] = 1
    with pytest.raises(ValueError):
        array.setflags(write=True)
    with pytest.raises(TypeError):
        view[0] = 1
    assert array[255] == 255
    # A transaction's read views its base snapshot's page the same way.
    txn = engine.begin()
    assert numpy.frombuffer(txn.read(page), dtype=numpy.uint8).ctypes.data == snap.page(page).address
    txn.abandon()


def test_view_outlives_its_snapshot_and_engine(tmp_path):
    import numpy

    engine = mmsb.Engine.open(str(tmp_path / "d"), durability="none")
    (page,) = make_pages(engine, 1 << 16)
    with engine.begin() as txn:
        txn.put(page, b"\x07" * (1 << 16))
    snap = engine.snapshot()
    view = snap.read(page)
    array = numpy.frombuffer(snap.read(page), dtype=numpy.uint8)
    del snap
    for value in range(8):  # newer versions replace the page; the view keeps the old one
        with engine.begin() as txn:
            txn.put(page, bytes([value]) * (1 << 16))
    engine.close()
    del engine
    gc.collect()
    assert bytes(view) == b"\x07" * (1 << 16)
    assert int(array.sum()) == 7 * (1 << 16)


def test_checkpoint_and_reopen(tmp_path):
    path = str(tmp_path / "d")
    with mmsb.Engine.open(path, durability="fsync") as engine:
        (page,) = make_pages(engine, 4)
        with engine.begin() as txn:
            txn.put(page, b"kept")
        assert engine.checkpoint() == 2
        root = engine.snapshot().root
    with mmsb.Engine.open(path) as engine:
        snap = engine.snapshot()
        assert snap.tick == 2 and snap.root == root
        assert bytes(snap.read(page)) == b"kept"


def test_stats(engine):
    make_pages(engine, 4)
    stats = engine.stats()
    assert stats["transactions_committed"] == 1
    assert isinstance(stats["ticks"], int)
    assert "commit_latency_ns_p99" in stats


def test_help_reads_well():
    assert "context manager" in mmsb.Engine.__doc__
    assert "durability" in mmsb.Engine.open.__doc__
    assert "without a copy" in mmsb.Snapshot.read.__doc__
    assert mmsb.__version__


def test_objects_outliving_their_engine(tmp_path):
    engine = mmsb.Engine.open(str(tmp_path / "d"), durability="none")
    (page,) = make_pages(engine, 4)
    txn = engine.begin()
    txn.write(page, 0, b"late")
    producer = engine.producer()
    snap = engine.snapshot()
    engine.close()
    with pytest.raises(mmsb.UnavailableError, match="closed"):
        txn.commit()
    with pytest.raises(mmsb.UnavailableError, match="closed"):
        producer.submit(1, b"late")
    assert bytes(snap.read(page)) == b"\0" * 4 and len(snap) == 1
    assert bytes(mmsb.replay(str(tmp_path / "d")).read(page)) == b"\0" * 4  # nothing landed
