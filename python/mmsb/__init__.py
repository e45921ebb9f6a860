"""mmsb: a deterministic, versioned state engine.

Embedded::

    import mmsb
    with mmsb.Engine.open("data", durability="none") as engine:
        with engine.begin() as txn:
            page = txn.create_page(size=16)
        snap = engine.snapshot()

Remote (a server started with ``mmsb serve DIR --listen HOST:PORT``)::

    with mmsb.Client("127.0.0.1:7420") as engine:
        ...  # the same begin(), snapshot(), fork(), merge(), subscribe(), producer()

Every failure raises ``mmsb.Error`` (a subclass per status code, ``.code`` its name).
Calls that wait for the engine release the GIL; callbacks from engine threads take it.
"""

import atexit as _atexit

from ._mmsb import (  # noqa: F401  (the public names)
    __version__,
    AlreadyExistsError,
    Client,
    CommitInfo,
    ConflictError,
    CorruptionError,
    DeltaSink,
    Engine,
    Error,
    FailedPreconditionError,
    Fork,
    InternalError,
    InvalidArgumentError,
    IoError,
    MergeResult,
    NotFoundError,
    PageInfo,
    PermissionDeniedError,
    Producer,
    Receipt,
    RemoteFork,
    RemoteMergeResult,
    RemoteProducer,
    RemoteSnapshot,
    RemoteTransaction,
    ResourceExhaustedError,
    RuleView,
    Snapshot,
    TopicRule,
    Transaction,
    UnavailableError,
    replay,
    verify,
    _close_all,
)

# Engines still open at exit are closed before the interpreter tears down the callables
# their threads might call.
_atexit.register(_close_all)

#: Edge kinds: Data and Control are dependencies; user kinds start at USER_EDGE_KIND.
DATA_EDGE = 1
CONTROL_EDGE = 2
USER_EDGE_KIND = 1024
#: The built-in derivation functions.
PASSTHROUGH = "mmsb.passthrough"
CONCAT = "mmsb.concat"
#: The largest payload a packet carries inline.
PACKET_INLINE_BYTES = 40

__all__ = [name for name in dir() if not name.startswith("_")]
