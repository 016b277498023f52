"""The Dask cluster of the partitioned engine (a client on a given scheduler or a local
cluster sized to the machine) and how partitions are grouped into tasks.

One ``planner run`` uses one cluster: :func:`run_cluster` opens it for the whole run, and
every :func:`dask_client` inside (the steps of :func:`planner.pipeline.run`, the parts of
:func:`planner.outputs.writers.write_outputs`) hands out that client instead of starting
another cluster.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

from planner.errors import PlannerError

if TYPE_CHECKING:
    from distributed import Client

#: The clients opened by :func:`run_cluster`, innermost last, with their scheduler address
_OPEN: list[tuple[str | None, Client]] = []
_LOCK = threading.Lock()


@contextmanager
def run_cluster(scheduler: str | None = None) -> Iterator[Client]:
    """The client of one whole run: opened here (as by :func:`dask_client`), handed out by
    every :func:`dask_client` call for the same ``scheduler`` until the block ends, then
    closed — also when the block raises."""
    with dask_client(scheduler) as client:
        with _LOCK:
            _OPEN.append((scheduler, client))
        try:
            yield client
        finally:
            with _LOCK:
                _OPEN.remove((scheduler, client))


def _open_client(scheduler: str | None) -> Client | None:
    with _LOCK:
        return next((c for s, c in reversed(_OPEN) if s == scheduler), None)


@contextmanager
def dask_client(scheduler: str | None = None, *, timeout_s: float = 10.0) -> Iterator[Client]:
    """A Dask client: the one :func:`run_cluster` keeps open for ``scheduler``, else one
    connected to ``scheduler`` or on a local cluster sized to the machine (one
    single-threaded worker process per core), closed on exit.

    Raises
    ------
    PlannerError
        When the scheduler address is malformed or nobody answers there.
    """
    from distributed import Client, LocalCluster

    if (shared := _open_client(scheduler)) is not None:
        yield shared
        return
    if scheduler:
        try:
            _reachable(scheduler, timeout_s)
            client = Client(scheduler, timeout=timeout_s, set_as_default=False)
        except (OSError, ValueError, TimeoutError) as exc:
            raise PlannerError(
                f"cannot connect to the Dask scheduler at {scheduler!r} ({exc}); check the "
                "address (tcp://host:8786) and that `dask scheduler` runs there, or leave "
                "out --scheduler to start a local cluster"
            ) from None
        with client:
            yield client
        return
    workers = os.cpu_count() or 1
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client


def _reachable(address: str, timeout_s: float) -> None:
    """Raise ``ValueError`` for a malformed address and ``OSError`` when nothing listens
    at a TCP/TLS one (checked before a client exists: a client that failed to connect
    stalls the interpreter's exit)."""
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port

    scheme, location = parse_address(address)
    host, port = parse_host_port(location)
    if scheme in ("tcp", "tls"):
        socket.create_connection((host, port), timeout=timeout_s).close()


def balanced_batches(sizes: list[int], n: int) -> list[list[int]]:
    """Positions of ``sizes`` in at most ``n`` batches of about equal total size: largest
    first, each to the lightest batch so far; empty batches are left out."""
    load = np.zeros(max(n, 1))
    batches: list[list[int]] = [[] for _ in range(len(load))]
    for i in np.argsort([-s for s in sizes], kind="stable"):
        j = int(np.argmin(load))
        batches[j].append(int(i))
        load[j] += sizes[i]
    return [b for b in batches if b]
