"""GeoPackages written by a child process, fed layer by layer and batch by batch.

GDAL's GeoPackage driver holds the GIL for as long as it writes (seconds per large
layer), so that nothing else of the output step could run beside it in this process.
:class:`GpkgChild` keeps that work in a child Python process: this process prepares each
layer (:func:`~planner.outputs.vector.gpkg_layer`: reprojected, encoded as Arrow batches
of :data:`~planner.outputs.vector.CHUNK_ROWS` rows) and sends it over the child's stdin,
one batch at a time, so that neither process holds a long layer twice. The file is the
same as :func:`~planner.outputs.vector.write_gpkg` writes, and moved into place
atomically by this process once the child has written every layer.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import geopandas as gpd
import pyarrow as pa

from planner.errors import PlannerError
from planner.outputs.atomic import atomic_path
from planner.outputs.child import send_result
from planner.outputs.vector import GpkgLayer, gpkg_layer, write_gpkg

__all__ = ["GpkgChild"]

_CHILD = (
    "import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); "
    "from planner.outputs.gpkg_child import _serve; _serve()"
)
#: Message asking the child to answer once it has written everything sent before.
_SYNC = "sync"


def _serve() -> None:
    """Child side: write the layers read from stdin; after each :data:`_SYNC`, pickle
    ``("ok", None)`` to stdout; on an error pickle ``("error", exc)`` and stop."""
    source, answers = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # anything the libraries print stays out of the answers
    try:
        while (message := pickle.load(source)) is not None:
            if message == _SYNC:
                _answer(answers, ("ok", None))
            else:
                _write_layer(source, *message)
    except Exception as exc:
        _answer(answers, ("error", exc))


def _answer(answers: IO[bytes], result: tuple[str, Any]) -> None:
    send_result(answers, result, "writing a GeoPackage failed")


def _write_layer(source: IO[bytes], path: Path, layer: GpkgLayer, schema: Any) -> None:
    """Write one layer; a streamed one reads its batches from ``source`` until ``None``."""
    if schema is None:
        layer.write(path)
        return
    batches = _batches(source)
    replace(layer, stream=pa.RecordBatchReader.from_batches(schema, batches)).write(path)
    for _ in batches:  # GDAL stopped early: skip to the end of the layer
        pass


def _batches(source: IO[bytes]) -> Iterator[pa.RecordBatch]:
    while (batch := pickle.load(source)) is not None:
        yield batch


class GpkgChild:
    """A child process that writes GeoPackages for this one (:meth:`write_gpkg`).

    With ``start=False``, or where ``sys.executable`` is not a Python interpreter (Python
    embedded in another program) or cannot be started, :meth:`write_gpkg` writes in this
    process instead. An error in the child is raised again here (same type and message).
    A context manager: the child is ended on exit.
    """

    def __init__(self, *, start: bool = True) -> None:
        self._child: subprocess.Popen[bytes] | None = None
        if not start or not Path(sys.executable or "").name.lower().startswith("python"):
            return
        try:
            self._child = subprocess.Popen(
                [sys.executable, "-c", _CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
        except OSError:
            return
        try:
            self._put(sys.path)
        except OSError:  # it ended at once: write here
            self._kill()

    def write_gpkg(
        self, path: str | os.PathLike[str], layers: Mapping[str, gpd.GeoDataFrame], *, crs: Any
    ) -> Path:
        """:func:`~planner.outputs.vector.write_gpkg`, with GDAL's part in the child."""
        if self._child is None or not layers:
            return write_gpkg(path, layers, crs=crs)
        target = Path(path)
        with atomic_path(target) as tmp:
            try:
                for name, gdf in layers.items():
                    self._send(gpkg_layer(gdf, name, crs=crs), tmp)
                self._put(_SYNC)
            except OSError:  # the child stopped reading: its answer says why
                pass
            except BaseException:
                self._kill()
                raise
            self._result()
        return target

    def _send(self, layer: GpkgLayer, path: Path) -> None:
        if layer.stream is None:
            self._put((path, layer, None))
            return
        self._put((path, replace(layer, stream=None), layer.stream.schema))
        for batch in layer.stream:
            self._put(batch)
        self._put(None)

    def _put(self, message: Any) -> None:
        child = self._child
        if child is None or child.stdin is None:
            raise BrokenPipeError("the process writing GeoPackages has ended")
        pickle.dump(message, child.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        child.stdin.flush()

    def _result(self) -> None:
        """Wait for the child's answer; raise its error."""
        child = self._child
        try:
            if child is None or child.stdout is None:
                raise EOFError
            status, value = pickle.load(child.stdout)
        except (EOFError, OSError, ValueError):  # ended, or its pipe closed here
            code = None if child is None else child.wait()
            self._kill()
            raise PlannerError(
                f"the process writing GeoPackages ended with exit code {code}"
            ) from None
        if status == "error":
            self._kill()
            raise value

    def close(self) -> None:
        """Let the child end (it has nothing left to write once :meth:`write_gpkg`
        returned)."""
        if self._child is not None and self._child.poll() is None:
            with contextlib.suppress(OSError):
                self._put(None)
        self._kill(wait=True)

    def _kill(self, *, wait: bool = False) -> None:
        """End the child: after it finished (``wait``), or at once."""
        child, self._child = self._child, None
        if child is None:
            return
        if not wait:
            child.kill()  # first: a thread blocked writing to it gets a broken pipe
        for pipe in (child.stdin, child.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()

    def __enter__(self) -> GpkgChild:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self._kill()
