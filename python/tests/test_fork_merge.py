"""Forks, merge policies, replay and verify."""

import pytest

import mmsb
from conftest import make_pages


def test_fork_is_private_until_merged(engine):
    a, b = make_pages(engine, 4, 4)
    fork = engine.fork()
    assert fork.base.tick == 1 and not fork.has_uncommitted_changes
    fork.write(a, 0, b"fork")
    fork.put(b, b"both")
    new = fork.create_page(size=2, initial=b"hi")
    assert fork.has_uncommitted_changes
    assert bytes(fork.read(a)) == b"fork" and new in fork and len(fork) == 3
    assert fork.page(a).size == 4
    assert bytes(engine.snapshot().read(a)) == b"\0" * 4  # the engine does not see it yet
    head = fork.commit()
    assert head.tick == 2 and fork.head.root == head.root
    result = engine.merge(fork)
    assert result.path == "ours_unchanged"  # the engine did not move since the fork
    snap = engine.snapshot()
    assert result.snapshot.root == snap.root == result.root and result.tick == snap.tick
    assert bytes(snap.read(a)) == b"fork" and bytes(snap.read(b)) == b"both"
    moved = result.page_remap.get(new, new)
    assert bytes(snap.read(moved)) == b"hi"


def test_merge_commits_pending_fork_writes(engine):
    (a,) = make_pages(engine, 4)
    fork = engine.fork()
    fork.write(a, 0, b"late")
    engine.merge(fork)
    assert bytes(engine.snapshot().read(a)) == b"late"


def clashing_fork(engine):
    (a,) = make_pages(engine, 4)
    fork = engine.fork()
    fork.write(a, 0, b"fork")
    with engine.begin() as txn:
        txn.write(a, 0, b"ours")
    return a, fork


def test_merge_clash_fails_and_hands_the_fork_back(engine):
    a, fork = clashing_fork(engine)
    before = engine.snapshot()
    with pytest.raises(mmsb.ConflictError, match=str(a)):
        engine.merge(fork)
    assert engine.snapshot().page(a).epoch == before.page(a).epoch
    assert bytes(engine.snapshot().read(a)) == b"ours"
    result = engine.merge(fork, policy="theirs")  # the same fork, merged again
    assert result.clashes_resolved == 1
    assert bytes(engine.snapshot().read(a)) == b"fork"


def test_merge_policy_ours(engine):
    a, fork = clashing_fork(engine)
    engine.merge(fork, policy="ours")
    assert bytes(engine.snapshot().read(a)) == b"ours"


def test_merge_rejects_unknown_policy(engine):
    _, fork = clashing_fork(engine)
    with pytest.raises(mmsb.InvalidArgumentError, match="policy 'mine'"):
        engine.merge(fork, policy="mine")


def test_fork_errors(engine):
    (a,) = make_pages(engine, 4)
    fork = engine.fork()
    with pytest.raises(mmsb.NotFoundError, match="999"):
        fork.write(999, 0, b"x")
    with pytest.raises(mmsb.InvalidArgumentError):
        fork.write(a, 3, b"xy")
    with pytest.raises(mmsb.NotFoundError):
        fork.read(999)
    with pytest.raises(mmsb.NotFoundError):
        fork.delete_page(999)
    assert not fork.has_uncommitted_changes  # the refused writes left nothing behind
    edge = fork.add_edge(a, a)
    fork.remove_edge(edge)
    fork.delete_page(a)
    assert a not in fork


def populate(path):
    with mmsb.Engine.open(path, durability="fsync") as engine:
        (page,) = make_pages(engine, 4)
        roots = [engine.snapshot().root]
        for value in (b"one.", b"two.", b"3333"):
            with engine.begin() as txn:
                txn.put(page, value)
            roots.append(engine.snapshot().root)
        return page, roots


def test_replay_to_each_tick(tmp_path):
    path = str(tmp_path / "d")
    page, roots = populate(path)
    assert mmsb.replay(path).root == roots[-1]
    for tick, root in enumerate(roots, start=1):
        snap = mmsb.replay(path, to=tick)
        assert snap.tick == tick and snap.root == root
    assert bytes(mmsb.replay(path, to=3, verify=True).read(page)) == b"two."
    report = mmsb.verify(path)
    assert report["ok"] and report["tick"] == 4 and report["root"] == roots[-1]
    assert report["failure"] == ""


def test_replay_errors(tmp_path):
    with pytest.raises(mmsb.Error, match="no-such-dir"):
        mmsb.replay(str(tmp_path / "no-such-dir"))
    path = str(tmp_path / "d")
    populate(path)
    assert mmsb.replay(path, to=99).tick == 4  # stops where the log ends; tick says where


def test_replay_refuses_corrupt_log(tmp_path):
    path = tmp_path / "d"
    populate(str(path))
    segments = sorted((path / "log").glob("*.seg"))
    assert segments
    data = bytearray(segments[-1].read_bytes())
    data[len(data) // 2] ^= 0xFF
    segments[-1].write_bytes(bytes(data))
    report = mmsb.verify(str(path))
    assert not report["ok"] and report["failure"]
