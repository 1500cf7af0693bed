"""The two load generators of ``python -m bench``.

- :func:`wrk` runs the C load generator wrk (one thread, ``-c`` keep-alive connections) with a
  Lua script of ``bench/wrk/`` for the single-request scenarios, whose rate is high: in Python
  the client would be the bottleneck, in C on one thread it is not (on a 2-core machine the
  server's one worker gets the other core).
- :func:`drive` runs a Python callable from threads, each with its own ``requests.Session``,
  for the multi-step flows (sign-in, recovery, reset, sign-up): their rate is bounded by argon2id
  on the server (tens a second per core), which Python keeps up with easily.

Both return the same :class:`Sample`: requests (or flows) done in the timed window, its length,
p50/p99 and errors.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

WRK_SCRIPTS = Path(__file__).resolve().parent / "wrk"


@dataclass
class Sample:
    """One timed run of one scenario on one system."""

    requests: int
    seconds: float
    p50_ms: float | None
    p99_ms: float | None
    errors: int
    detail: dict = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "rate": self.rate}


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def wrk_binary() -> str | None:
    return shutil.which("wrk")


def wrk(url: str, *, script: str, script_args: list[str], headers: dict[str, str], seconds: float,
        connections: int) -> Sample:
    """``wrk -t1 -c<connections> -d<seconds>`` with ``bench/wrk/<script>``; parses its JSON line."""
    command = [wrk_binary() or "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
               "-s", str(WRK_SCRIPTS / script)]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command += [url, "--", *script_args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    line = next((text for text in reversed(done.stdout.splitlines()) if text.startswith('{"bench"')), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (exit {done.returncode}): {done.stderr.strip()[-500:] or done.stdout[-500:]}")
    result = json.loads(line)
    socket_errors = result["connect"] + result["read"] + result["write"] + result["timeout"]
    detail = {key: result[key] for key in ("non2xx", "connect", "read", "write", "timeout", "lost") if key in result}
    return Sample(result["requests"], result["seconds"], result["p50_ms"], result["p99_ms"],
                  result["non2xx"] + socket_errors, detail)


Task = Callable[[int], "tuple[float, bool, str]"]


def drive(task: Task, *, concurrency: int, warmup: float, seconds: float) -> dict[str, Sample]:
    """Call ``task(i)`` (i = 0, 1, 2…) from ``concurrency`` threads for ``warmup`` then ``seconds``.

    A task returns (its seconds, whether it succeeded, its kind).  Only the tasks started and
    finished inside the timed window count; an exception is an error of kind ``"error"``.
    Returns one Sample per kind: done in the window ÷ its length, p50/p99 of the successes."""
    counter = iter(range(1 << 62))
    lock = threading.Lock()
    began = time.perf_counter()
    window_start, window_end = began + warmup, began + warmup + seconds
    results: list[tuple[str, float, bool]] = []
    failures: list[str] = []

    def worker() -> None:
        while time.perf_counter() < window_end:
            with lock:
                i = next(counter)
            started = time.perf_counter()
            try:
                elapsed, ok, kind = task(i)
            except Exception as error:  # counted, and the first few are shown in the JSON
                elapsed, ok, kind = time.perf_counter() - started, False, "error"
                with lock:
                    if len(failures) < 5:
                        failures.append(f"{type(error).__name__}: {error}"[:300])
            finished = time.perf_counter()
            if started >= window_start and finished <= window_end:
                with lock:
                    results.append((kind, elapsed, ok))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    kinds = sorted({kind for kind, _, _ in results if kind != "error"}) or ["all"]
    errors_without_kind = sum(1 for kind, _, _ in results if kind == "error")
    samples = {}
    for kind in kinds:
        mine = [(elapsed, ok) for k, elapsed, ok in results if k == kind]
        good = sorted(elapsed for elapsed, ok in mine if ok)
        errors = sum(1 for _, ok in mine if not ok) + (errors_without_kind if kind == kinds[0] else 0)
        samples[kind] = Sample(len(mine), seconds, statistics.median(good) * 1000 if good else None,
                               percentile(good, 0.99) * 1000 if good else None, errors,
                               {"failures": failures} if failures else {})
    return samples


def combine(samples: list[Sample]) -> Sample | None:
    """Several rounds of one scenario on one system: all requests ÷ all seconds, the median of the
    rounds' p50 and p99, the errors added."""
    if not samples:
        return None
    p50s = [s.p50_ms for s in samples if s.p50_ms is not None]
    p99s = [s.p99_ms for s in samples if s.p99_ms is not None]
    return Sample(sum(s.requests for s in samples), sum(s.seconds for s in samples),
                  statistics.median(p50s) if p50s else None, statistics.median(p99s) if p99s else None,
                  sum(s.errors for s in samples))
