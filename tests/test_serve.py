"""`idp serve` as the quick start runs it: embedded Redis, SQLite, the mail worker in a thread,
and the development mailbox, followed through a whole password reset over real HTTP."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest
import requests

from idp.redis_store import embedded_socket, stop_embedded

from conftest import free_port
from helpers import csrf_token, idp_env

IDP = os.path.join(os.path.dirname(sys.executable), "idp")
NEW_PASSWORD = "le train de nuit part de Briançon"


def wait_until(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture
def serve(tmp_path):
    port = free_port()
    instance = tmp_path / "instance"
    env = idp_env({})
    env["IDP_INSTANCE_DIR"] = str(instance)
    base = f"http://127.0.0.1:{port}"
    with open(tmp_path / "serve.log", "w") as output:
        process = subprocess.Popen([IDP, "serve", "--demo", "--port", str(port)], env=env, cwd=tmp_path,
                                   stdout=output, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: answers(base + "/healthz") or process.poll() is not None, 60, "idp serve")
        assert process.poll() is None, (tmp_path / "serve.log").read_text()
        yield base, process, tmp_path / "serve.log", instance
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
        stop_embedded(instance)


def demo_password(log) -> str:
    return re.search(r"username demo\s+password (\S+)", log.read_text()).group(1)


def test_quick_start_sends_the_reset_mail_to_the_development_mailbox_and_the_reset_works(serve):
    base, _process, log, _instance = serve
    browser = requests.Session()
    form = browser.get(base + "/recovery/password")
    assert "Mot de passe oublié" in form.text

    sent = browser.post(base + "/recovery/password", data={"csrf_token": csrf_token(form.text), "login": "demo"})
    assert sent.status_code == 200 and "indésirables" in sent.text

    def reset_link():
        mailbox = browser.get(base + "/dev/mail").text
        found = re.search(r"http://localhost:\d+(/recovery/reset/[A-Za-z0-9_-]{43})", mailbox)
        return found and found.group(1)

    path = wait_until(reset_link, 20, "the reset mail in /dev/mail")
    page = browser.get(base + path)
    done = browser.post(base + path, data={"csrf_token": csrf_token(page.text), "new_password": NEW_PASSWORD,
                                           "new_password_confirm": NEW_PASSWORD}, allow_redirects=False)
    assert done.status_code == 303 and "username=demo" in done.headers["Location"]

    login = browser.get(base + "/login?username=demo")
    signed_in = browser.post(base + "/login", data={"csrf_token": csrf_token(login.text), "username": "demo",
                                                    "password": NEW_PASSWORD}, allow_redirects=False)
    assert signed_in.status_code == 303
    old = requests.Session()
    page = old.get(base + "/login")
    refused = old.post(base + "/login", data={"csrf_token": csrf_token(page.text), "username": "demo",
                                              "password": demo_password(log)})
    assert refused.status_code == 401
    notice = wait_until(lambda: "/recovery/not-me/" in browser.get(base + "/dev/mail").text, 20,
                        "the password-changed notice")
    assert notice
    served_log = log.read_text()
    assert "/recovery/reset/[redacted]" in served_log  # the access log shows the request...
    assert path.rsplit("/", 1)[1] not in served_log  # ...but never the token


def test_serve_stops_cleanly_with_its_worker_and_embedded_redis(serve):
    _base, process, log, instance = serve
    assert embedded_socket(instance).exists()

    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0, log.read_text()

    assert "Traceback" not in log.read_text()
    assert not stop_embedded(instance), "the embedded Redis should already be stopped"
