"""``/metrics``: what an operator's Prometheus scrapes, in its text format, from the operators'
networks only (``IDP_ADMIN_NETWORKS``; elsewhere the path does not exist).

Two kinds of figures:

- **per request**, counted by each server process: requests by endpoint, method and status,
  and their durations.  Under ``idp serve --production`` the workers share the counts through
  ``PROMETHEUS_MULTIPROC_DIR`` (set by the command to ``<instance>/metrics``, emptied at start),
  so a scrape that reaches any worker sees them all.  Another server must set that variable
  to an empty folder itself, or each worker reports only its own.
- **per deployment**, kept in Redis so that every instance and the mail workers add to the
  same figures: the job queue's depth and drops, mails sent, failed attempts and dead mails,
  sign-ins by outcome.

``prometheus_client`` is imported on the first request, never at start-up: the production
server sets ``PROMETHEUS_MULTIPROC_DIR`` after building the app once and before its workers
start, and the library reads that variable when it is first imported.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path

import redis
from flask import Blueprint, Flask, Response, current_app, g, request

from .admin_networks import admin_networks_only

logger = logging.getLogger("idp.metrics")
bp = Blueprint("metrics", __name__)

MULTIPROC = "PROMETHEUS_MULTIPROC_DIR"
COUNTS = "metrics"  # the Redis hash of the deployment's counters
LOGIN_OUTCOMES = {"login.success": "success", "login.failure": "failure",
                  "login.second_factor_failure": "second_factor_failure"}
# Request durations: the protocol endpoints answer in milliseconds, a sign-in in tens to hundreds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_process_metrics = None
_series: dict[tuple[str, str, int], tuple] = {}


def _metrics():
    """This process's request counter and histogram, created once (every app of a process
    shares them: the tests build many apps)."""
    global _process_metrics
    if _process_metrics is None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        registry = CollectorRegistry(auto_describe=True)
        requests_total = Counter("sesame_http_requests", "HTTP requests answered, by endpoint, method and status",
                                 ["endpoint", "method", "status"], registry=registry)
        duration = Histogram("sesame_http_request_duration_seconds", "Time to answer a request, by endpoint",
                             ["endpoint"], buckets=BUCKETS, registry=registry)
        _process_metrics = (registry, requests_total, duration)
    return _process_metrics


def prepare_multiprocess(instance_dir: str | Path) -> Path:
    """For a server with several worker processes: the shared folder, emptied (the counts of a
    previous run are not this run's), and ``PROMETHEUS_MULTIPROC_DIR`` pointing to it.  Call
    before the workers start, in a process that has not imported ``prometheus_client``."""
    folder = Path(os.environ.get(MULTIPROC) or Path(instance_dir) / "metrics")
    if folder.exists():
        for stale in folder.glob("*.db"):
            stale.unlink()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ[MULTIPROC] = str(folder)
    return folder


def count(field: str, amount: int = 1) -> None:
    """Add to one of the deployment's counters; a Redis failure never fails the caller."""
    ctx = current_app.extensions.get("idp")
    if ctx is None:
        return
    with contextlib.suppress(redis.RedisError):
        ctx.redis.hincrby(ctx.keys(COUNTS), field, amount)


def count_event(action: str) -> None:
    """Called for every audit event: sign-ins are counted by outcome."""
    if outcome := LOGIN_OUTCOMES.get(action):
        count(f"login:{outcome}")


def _started() -> None:
    g.metrics_started = time.perf_counter()


def _observed(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is not None:
        endpoint = request.endpoint or "none"  # an unknown path: one label, not one per path
        key = (endpoint, request.method, response.status_code)
        series = _series.get(key)
        if series is None:  # labels() costs as much again as counting: each series is looked up once
            _registry, requests_total, duration = _metrics()
            series = _series[key] = (requests_total.labels(endpoint, request.method, str(response.status_code)),
                                     duration.labels(endpoint))
        series[0].inc()
        series[1].observe(time.perf_counter() - started)
    return response


class DeploymentCollector:
    """The figures kept in Redis, read at each scrape."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        ctx = self.app.extensions["idp"]
        stats = self.app.extensions["idp.jobs"].stats()
        counts = {key: int(value) for key, value in ctx.redis.hgetall(ctx.keys(COUNTS)).items()}
        yield GaugeMetricFamily("sesame_jobs_queued", "Jobs in the queue (mails, recovery requests)",
                                value=stats["pending"])
        yield GaugeMetricFamily("sesame_jobs_due", "Jobs due now, waiting for a worker", value=stats["due"])
        yield GaugeMetricFamily("sesame_jobs_max", "The queue's ceiling (IDP_JOBS_MAX)", value=stats["max"])
        yield CounterMetricFamily("sesame_jobs_dropped", "Jobs dropped because the queue was full",
                                  value=stats["dropped"])
        mails = CounterMetricFamily("sesame_mails", "Mails by outcome: sent, failed (an attempt, retried), "
                                    "dead (dropped for good)", labels=["outcome"])
        for outcome in ("sent", "failed", "dead"):
            mails.add_metric([outcome], counts.get(f"job:mail.deliver:{outcome}", 0))
        yield mails
        logins = CounterMetricFamily("sesame_logins", "Sign-ins by outcome", labels=["outcome"])
        for outcome in LOGIN_OUTCOMES.values():
            logins.add_metric([outcome], counts.get(f"login:{outcome}", 0))
        yield logins


@bp.get("/metrics")
@admin_networks_only
def metrics():
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry, _requests, _duration = _metrics()
    if os.environ.get(MULTIPROC):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    text = generate_latest(registry)
    deployment = CollectorRegistry()
    deployment.register(DeploymentCollector(current_app._get_current_object()))
    try:
        text += generate_latest(deployment)
    except redis.RedisError as error:  # the per-process figures still help
        logger.warning("metrics: Redis unreachable (%s)", type(error).__name__)
    return Response(text, content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    # First of the hooks, so that a request another hook answers (a 503, a refused CSRF token)
    # is counted too.
    app.before_request_funcs.setdefault(None, []).insert(0, _started)
    app.after_request(_observed)

