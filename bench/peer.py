"""The peer that ``python -m bench`` measures beside Sésame: one node process running the
``oidc-provider`` npm package, configured like Sésame (``bench/peer/server.mjs`` says how).

``start(workdir, port)`` installs the package into ``bench/.peer/`` (git-ignored) when the pinned
version is not there yet, starts ``node server.mjs`` in production mode, waits for its ready line
and returns a :class:`Peer` with the endpoints, the client's credentials and the tokens that the
server minted for the refresh, introspection and userinfo scenarios.

``python -m bench.peer`` starts it, tries each scenario once and stops it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "peer"  # package.json and server.mjs, committed
INSTALL = HERE / ".peer"  # where they are copied and npm installs, git-ignored
PACKAGE = "oidc-provider"
VERSION = json.loads((SOURCE / "package.json").read_text())["dependencies"][PACKAGE]
READY_SECONDS = 120


class PeerError(RuntimeError):
    """The peer could not be installed or started; the message ends with npm's or node's stderr."""


@dataclass
class Peer:
    issuer: str
    client_id: str
    client_secret: str
    token_endpoint: str
    introspection_endpoint: str
    userinfo_endpoint: str
    discovery: str
    jwks_uri: str
    resource: str
    scope: str
    at_format: str  # "jwt" or "opaque": what the token endpoint gives
    at_alg: str | None  # "RS256" or "ES256" with at_format "jwt"
    access_tokens_format: str  # always "opaque": oidc-provider does not introspect JWTs
    refresh_id_token: bool  # whether a refresh answer carries an ID token too
    refresh_tokens: list[str]  # one per account bench0.., each the start of its own chain
    access_tokens: list[str]  # for introspection
    userinfo_tokens: list[str]  # opaque, no audience: what oidc-provider's /me accepts
    pid: int
    process: subprocess.Popen = field(repr=False)
    logs: Path = field(repr=False)  # stdout.log and stderr.log of the node process

    def stop(self, timeout: float = 10) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def available() -> str | None:
    """None when node and npm can run the peer, else why not."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    try:
        version = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=30,
                                 check=True).stdout.strip()
        subprocess.run(["npm", "--version"], capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"node or npm does not run: {exc}"
    major = version.lstrip("v").split(".")[0]
    if not major.isdigit() or int(major) < 20:
        return f"node {version} is too old (oidc-provider {VERSION} needs 20 or later)"
    return None


def installed_version(folder: Path = INSTALL) -> str | None:
    try:
        return json.loads((folder / "node_modules" / PACKAGE / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def install(folder: Path = INSTALL) -> None:
    """Copy package.json and server.mjs into ``folder`` and npm install there unless the pinned
    version already is.  A lock keeps two benches from installing at once."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for name in ("package.json", "server.mjs"):
            shutil.copyfile(SOURCE / name, folder / name)
        if installed_version(folder) == VERSION:
            return
        cmd = ["npm", "install", "--omit=dev", "--no-audit", "--no-fund", "--prefix", str(folder)]
        try:
            done = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PeerError(f"npm install failed: {exc}") from exc
        if done.returncode != 0 or installed_version(folder) != VERSION:
            raise PeerError(f"npm install failed (exit {done.returncode}, installed "
                            f"{installed_version(folder)}, wanted {VERSION}):\n{_tail(done.stderr)}")


def start(workdir: Path, port: int, *, at_alg: str = "RS256", at_format: str = "jwt", seed: int = 2000,
          refresh_id_token: bool = True) -> Peer:
    """Install if needed, start ``node server.mjs`` on 127.0.0.1:``port`` and wait until it has
    minted its tokens.  ``workdir`` receives the process's logs and the seed file.

    ``refresh_id_token=False`` seeds refresh tokens without the openid scope, so that a refresh
    answer has no ID token, like Sésame's: oidc-provider signs one on every refresh of an openid
    token, one signature more than Sésame does."""
    if at_format not in ("jwt", "opaque"):
        raise ValueError(f"at_format must be jwt or opaque, not {at_format!r}")
    if at_alg not in ("RS256", "ES256"):
        raise ValueError(f"at_alg must be RS256 or ES256, not {at_alg!r}")
    reason = available()
    if reason:
        raise PeerError(reason)
    install()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path = workdir / "peer-stdout.log", workdir / "peer-stderr.log"
    seed_file = workdir / "peer-seed.json"
    seed_file.unlink(missing_ok=True)
    env = {**os.environ, "NODE_ENV": "production", "PEER_PORT": str(port), "PEER_AT_ALG": at_alg,
           "PEER_AT_FORMAT": at_format, "PEER_SEED": str(seed), "PEER_SEED_FILE": str(seed_file),
           "PEER_REFRESH_ID_TOKEN": "1" if refresh_id_token else "0"}
    # Both streams go to files: no pipe can fill and stall the server during a long bench.
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        process = subprocess.Popen(["node", "server.mjs", str(port)], cwd=INSTALL, env=env,
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    try:
        ready = _wait_ready(process, stdout_path, stderr_path)
        tokens = json.loads(Path(ready["seed_file"]).read_text())
    except BaseException:
        _end(process)
        raise
    return Peer(
        issuer=ready["issuer"], client_id=ready["client_id"], client_secret=ready["client_secret"],
        token_endpoint=ready["token_endpoint"], introspection_endpoint=ready["introspection_endpoint"],
        userinfo_endpoint=ready["userinfo_endpoint"], discovery=ready["discovery"],
        jwks_uri=ready["jwks_uri"], resource=ready["resource"], scope=ready["scope"],
        at_format=ready["at_format"], at_alg=ready["at_alg"], access_tokens_format=ready["access_tokens_format"],
        refresh_id_token=ready["refresh_id_token"],
        refresh_tokens=tokens["refresh_tokens"], access_tokens=tokens["access_tokens"],
        userinfo_tokens=tokens["userinfo_tokens"], pid=process.pid, process=process, logs=workdir,
    )


def _wait_ready(process: subprocess.Popen, stdout_path: Path, stderr_path: Path) -> dict:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        text = stdout_path.read_text(errors="replace")
        if "\n" in text:
            line = text.split("\n", 1)[0]
            try:
                ready = json.loads(line)
            except ValueError:
                ready = None
            if not (isinstance(ready, dict) and ready.get("ready") is True):
                raise PeerError(f"node printed something else than its ready line: {line[:300]!r}\n"
                                f"{_tail(stderr_path.read_text(errors='replace'))}")
            return ready
        if process.poll() is not None:
            raise PeerError(f"node server.mjs exited with {process.returncode} before it was ready:\n"
                            f"{_tail(stderr_path.read_text(errors='replace'))}")
        time.sleep(0.05)
    raise PeerError(f"node server.mjs was not ready after {READY_SECONDS} s:\n"
                    f"{_tail(stderr_path.read_text(errors='replace'))}")


def _end(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(10)


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:]) or "(nothing on stderr)"


# ---------------------------------------------------------------------------------------------
# python -m bench.peer: each scenario once.


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _jwt_header(token: str) -> dict | None:
    if token.count(".") != 2:
        return None
    head = token.split(".", 1)[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))


def smoke(peer: Peer) -> list[tuple[str, bool, str]]:
    import requests  # only the smoke check needs it

    http = requests.Session()
    auth = (peer.client_id, peer.client_secret)
    results = []

    def check(name: str, ok: bool, detail: str) -> None:
        results.append((name, bool(ok), detail))

    r = http.get(peer.discovery, timeout=10)
    check("discovery", r.status_code == 200 and r.json().get("issuer") == peer.issuer,
          f"{r.status_code}, issuer {r.json().get('issuer')}")

    r = http.post(peer.token_endpoint, data={"grant_type": "client_credentials"}, auth=auth, timeout=10)
    body = r.json()
    header = _jwt_header(body.get("access_token", ""))
    check("client_credentials", r.status_code == 200 and "access_token" in body,
          f"{r.status_code}, {body.get('token_type')} expires_in {body.get('expires_in')}, "
          + (f"JWT {header.get('alg')} typ {header.get('typ')}" if header else "opaque"))

    chain = peer.refresh_tokens[0]
    for turn in (1, 2):
        r = http.post(peer.token_endpoint, data={"grant_type": "refresh_token", "refresh_token": chain},
                      auth=auth, timeout=10)
        body = r.json()
        fresh = body.get("refresh_token")
        header = _jwt_header(body.get("access_token", ""))
        check(f"refresh #{turn}", r.status_code == 200 and fresh and fresh != chain,
              f"{r.status_code}, rotated {bool(fresh and fresh != chain)}, access token "
              + (f"JWT {header.get('alg')}" if header else "opaque")
              + f", scope {body.get('scope')}, id_token {'id_token' in body}")
        chain = fresh or chain
    r = http.post(peer.token_endpoint, data={"grant_type": "refresh_token", "refresh_token": peer.refresh_tokens[0]},
                  auth=auth, timeout=10)
    check("refresh replay refused", r.status_code == 400, f"{r.status_code} {r.json().get('error')}")

    r = http.post(peer.introspection_endpoint, data={"token": peer.access_tokens[0]}, auth=auth, timeout=10)
    body = r.json()
    check("introspection", r.status_code == 200 and body.get("active") is True,
          f"{r.status_code}, active {body.get('active')}, sub {body.get('sub')}, aud {body.get('aud')}")

    r = http.get(peer.userinfo_endpoint, headers={"Authorization": f"Bearer {peer.userinfo_tokens[0]}"}, timeout=10)
    body = r.json()
    check("userinfo", r.status_code == 200 and body.get("sub") == "bench0",
          f"{r.status_code}, {json.dumps(body, ensure_ascii=False)}")

    lines = (peer.logs / "peer-stdout.log").read_text().count("\n")
    check("stdout quiet", lines == 1, f"{lines} line(s) on node's stdout")
    return results


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="default: a free one")
    parser.add_argument("--at-format", choices=("jwt", "opaque"), default="jwt")
    parser.add_argument("--at-alg", choices=("RS256", "ES256"), default="RS256")
    parser.add_argument("--seed", type=int, default=2000)
    parser.add_argument("--no-refresh-id-token", dest="refresh_id_token", action="store_false",
                        help="seed refresh tokens without openid, so refreshing gives no ID token")
    parser.add_argument("--keep", action="store_true", help="keep serving until Ctrl-C after the smoke check")
    args = parser.parse_args()

    reason = available()
    if reason:
        print(f"peer unavailable: {reason}")
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-peer-") as workdir:
        started = time.monotonic()
        with start(Path(workdir), args.port or _free_port(), at_alg=args.at_alg, at_format=args.at_format,
                   seed=args.seed, refresh_id_token=args.refresh_id_token) as peer:
            print(f"oidc-provider {VERSION} pid {peer.pid} at {peer.issuer}, access tokens {peer.at_format}"
                  f"{' ' + peer.at_alg if peer.at_alg else ''}, {len(peer.refresh_tokens)} refresh / "
                  f"{len(peer.access_tokens)} introspection / {len(peer.userinfo_tokens)} userinfo tokens, "
                  f"ready in {time.monotonic() - started:.1f} s")
            results = smoke(peer)
            for name, ok, detail in results:
                print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
            if args.keep:
                print("serving; Ctrl-C stops")
                with contextlib.suppress(KeyboardInterrupt):
                    peer.process.wait()
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
