"""A function of the planner called in a child Python process while the caller goes on.

Writers use it for work that holds the GIL or a core for long (the slowest GDAL drivers),
so that it runs beside the rest of the output step on every platform. The child is the
same interpreter started with ``-c`` (not :mod:`multiprocessing`), so the caller's main
script is never imported again; the function and its arguments travel pickled over
stdin, the result (or the exception) back over stdout.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from planner.errors import PlannerError

__all__ = ["ChildCall", "send_result"]

_CHILD = (
    "import pickle, sys; path, job = pickle.load(sys.stdin.buffer); sys.path[:] = path; "
    "from planner.outputs.child import _serve; _serve(job)"
)


def _serve(job: bytes) -> None:
    """Child side of :class:`ChildCall`: pickle ``("ok", value)`` or ``("error", exc)``
    to stdout (anything else the child prints goes to stderr)."""
    out, sys.stdout = sys.stdout.buffer, sys.stderr
    try:
        function, args = pickle.loads(job)
        result: tuple[str, Any] = ("ok", function(*args))
    except Exception as exc:
        result = ("error", exc)
    send_result(out, result, "the child process failed")


def send_result(out: IO[bytes], result: tuple[str, Any], failure: str) -> None:
    """Pickle ``result`` (``("ok", value)`` or ``("error", exc)``) to the parent; an error
    that cannot be pickled goes as a :class:`PlannerError` with ``failure`` and its text."""
    try:
        blob = pickle.dumps(result)
    except Exception:
        blob = pickle.dumps(("error", PlannerError(f"{failure}: {result[1]}")))
    out.write(blob)
    out.flush()


class ChildCall:
    """``function(*args)`` run in a child process; :meth:`result` waits for its value.

    ``function`` must be importable by name (a module-level function). An error in the
    child is raised again by :meth:`result` (same type and message); :meth:`close` ends
    a child whose result is no longer wanted. Where ``sys.executable`` is not a Python
    interpreter (Python embedded in another program) or cannot be started,
    :meth:`result` calls the function in this process instead.
    """

    def __init__(self, function: Callable[..., Any], *args: Any, what: str) -> None:
        self._function, self._args, self._what = function, args, what
        self._child: subprocess.Popen[bytes] | None = None
        self._output: Future[tuple[bytes, bytes]] | None = None
        if Path(sys.executable or "").name.lower().startswith("python"):
            self._start()

    def _start(self) -> None:
        payload = pickle.dumps((sys.path, pickle.dumps((self._function, self._args))))
        try:
            self._child = subprocess.Popen(
                [sys.executable, "-c", _CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
        except OSError:
            return
        self._args = ()  # the child has them: do not keep a second reference
        pool = ThreadPoolExecutor(max_workers=1)
        self._output = pool.submit(self._child.communicate, payload)
        pool.shutdown(wait=False)

    def result(self) -> Any:
        """The function's return value."""
        if self._child is None or self._output is None:
            return self._function(*self._args)
        stdout, _ = self._output.result()
        if not stdout:
            code = self._child.returncode
            raise PlannerError(f"the process {self._what} ended with exit code {code}")
        status, value = pickle.loads(stdout)
        if status == "error":
            raise value
        return value

    def close(self) -> None:
        """End the child if it still runs."""
        if self._child is not None and self._output is not None:
            if self._child.poll() is None:
                self._child.kill()
            self._output.result()

    def __enter__(self) -> ChildCall:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
