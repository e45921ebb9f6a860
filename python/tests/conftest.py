"""Fixtures of the mmsb Python tests: engines in temporary directories and a real
`mmsb serve` (MMSB_BIN, set by CTest) on a free loopback port."""

import os
import re
import subprocess
import threading
import time

import pytest

import mmsb


@pytest.fixture
def engine(tmp_path):
    with mmsb.Engine.open(str(tmp_path / "data"), durability="none") as opened:
        yield opened


def make_pages(engine, *sizes):
    """Creates zero-filled pages of `sizes` in one transaction; returns their ids."""
    txn = engine.begin()
    for size in sizes:
        txn.create_page(size=size)
    return txn.commit().created_pages


class Server:
    """`mmsb serve DIR` started on 127.0.0.1, port chosen by the kernel, stopped by stop()."""

    def __init__(self, data_dir, *args):
        binary = os.environ.get("MMSB_BIN")
        if not binary:
            pytest.skip("MMSB_BIN is not set (CTest sets it to the mmsb binary)")
        self.process = subprocess.Popen(
            [binary, "serve", str(data_dir), "--listen", "127.0.0.1:0", "--durability", "none", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        deadline = time.monotonic() + 30
        self.address = None
        while self.address is None:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("mmsb serve exited: " + "".join(self.lines))
            self.lines.append(line)
            found = re.search(r"listening on (\S+:\d+)", line)
            if found:
                self.address = found.group(1)
            if time.monotonic() > deadline:
                raise RuntimeError("mmsb serve did not start: " + "".join(self.lines))
        # Keep reading so the server never blocks on a full pipe.
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self):
        for line in self.process.stdout:
            self.lines.append(line)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.reader.join(timeout=5)
        return self.process.returncode


@pytest.fixture
def server(tmp_path):
    started = Server(tmp_path / "served")
    yield started
    assert started.stop() == 0, "".join(started.lines)


@pytest.fixture
def client(server):
    with mmsb.Client(server.address) as connected:
        yield connected
