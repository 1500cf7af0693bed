"""A Redis Cluster of our own on loopback: three masters on free ports, the 16,384 slots split
between them, for the tests that run the Redis-facing suite against a cluster
(``IDP_TEST_REDIS_CLUSTER``) and for tests/test_redis_cluster.py."""

from __future__ import annotations

import random
import socket
import subprocess
import time
from pathlib import Path

import redis as redis_lib

SLOTS = 16384
BUS_OFFSET = 10000  # a node also listens on its port + 10000, for the cluster bus


def free_node_port() -> int:
    """A free port whose cluster bus port (+10000) is free too, and under 65536."""
    for _ in range(200):
        port = random.randint(20000, 55000)  # a port, not a secret
        try:
            for candidate in (port, port + BUS_OFFSET):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no free pair of ports for a cluster node")


class LocalCluster:
    def __init__(self, binary: str, folder: Path, ports: list[int]):
        self.binary = binary
        self.folder = folder
        self.ports = ports
        self.processes: list[subprocess.Popen] = []

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def node(self, port: int) -> redis_lib.Redis:
        return redis_lib.Redis(port=port, socket_timeout=5, decode_responses=True)

    def start(self, timeout: float = 30) -> None:
        for port in self.ports:
            folder = self.folder / str(port)
            folder.mkdir(parents=True)
            self.processes.append(subprocess.Popen(
                [self.binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(folder), "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-node-timeout", "2000"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + timeout
        for port in self.ports:
            self._wait(lambda port=port: self.node(port).ping(), deadline, f"node {port} to start")
        share = SLOTS // len(self.ports)
        for index, port in enumerate(self.ports):
            first = index * share
            last = SLOTS - 1 if index == len(self.ports) - 1 else first + share - 1
            self.node(port).execute_command("CLUSTER ADDSLOTS", *range(first, last + 1))
        for port in self.ports[1:]:
            self.node(self.ports[0]).execute_command("CLUSTER MEET", "127.0.0.1", port)
        for port in self.ports:
            self._wait(lambda port=port: self._ready(port), deadline, f"node {port} to see the whole cluster")

    def _ready(self, port: int) -> bool:
        node = self.node(port)
        info = node.cluster("info")  # parsed by redis-py: {"cluster_state": "ok", ...}
        return info.get("cluster_state") == "ok" and int(info.get("cluster_known_nodes", 0)) == len(self.ports)

    @staticmethod
    def _wait(condition, deadline: float, what: str) -> None:
        while True:
            try:
                if condition():
                    return
            except redis_lib.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the test cluster: gave up waiting for {what}")
            time.sleep(0.05)

    def flush(self) -> None:
        """Empty every master: our own cluster, safe to empty between tests."""
        for port in self.ports:
            self.node(port).flushall()

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
