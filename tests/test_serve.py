"""`idp serve` as the quick start runs it: embedded Redis, SQLite, the mail worker in a thread,
and the development mailbox, followed through a whole password reset over real HTTP."""

import ast
import configparser
import contextlib
import importlib.metadata
import importlib.util
import os
import re
import signal
import stat
import subprocess
import sys
import time
from urllib.parse import urljoin

import pytest
import requests

from idp.redis_store import embedded_socket, stop_embedded

from conftest import free_port
from helpers import ROOT, TOKEN, csrf_token, idp_env, query

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


@contextlib.contextmanager
def serving(tmp_path, instance, port: int, log_name: str = "serve.log"):
    """`idp serve --demo` on this port and instance folder; (base URL, process, log path)."""
    env = idp_env({})
    env["IDP_INSTANCE_DIR"] = str(instance)
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / log_name
    with open(log, "w") as output:
        process = subprocess.Popen([IDP, "serve", "--demo", "--port", str(port)], env=env, cwd=tmp_path,
                                   stdout=output, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: answers(base + "/healthz") or process.poll() is not None, 60, "idp serve")
        assert process.poll() is None, log.read_text()
        yield base, process, log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
        stop_embedded(instance)


@pytest.fixture
def serve(tmp_path):
    instance = tmp_path / "instance"
    with serving(tmp_path, instance, free_port()) as (base, process, log):
        yield base, process, log, instance


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
        found = re.search(r"http://localhost:\d+(/recovery/reset/" + TOKEN + ")", mailbox)
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


# --- the first minutes of a deployer ------------------------------------------------------------------------------

def printed_demo(log) -> dict:
    """What `idp serve --demo` told the deployer."""
    text = log.read_text()
    return {"password": demo_password(log),
            "client_secret": re.search(r"client_id demo\s+client_secret (\S+)", text).group(1),
            "issuer": re.search(r"demo_rp\.py --issuer (\S+)", text).group(1),
            "person": re.search(r"^\s+(.+), born (\S+):", text, re.MULTILINE).groups()}


def demo_rp():
    """examples/demo_rp.py, imported as the deployer runs it."""
    spec = importlib.util.spec_from_file_location("demo_rp", ROOT / "examples" / "demo_rp.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sign_in_through_the_demo_rp(demo: dict) -> str:
    """The demo relying party's whole journey, the provider over HTTP at the printed issuer (the one
    host name the browser sees): the relying party's page after the callback."""
    base, example = demo["issuer"], demo_rp()
    rp = example.make_app(demo["issuer"], "demo", demo["client_secret"]).test_client()
    provider = requests.Session()
    to_provider = rp.get("/").location
    assert to_provider.startswith(demo["issuer"] + "/oauth/authorize?")
    to_login = provider.get(to_provider, allow_redirects=False).headers["Location"]
    rid = query(to_login)["rid"]
    form = provider.get(base + "/login?rid=" + rid)
    signed_in = provider.post(base + "/login", allow_redirects=False, data={
        "csrf_token": csrf_token(form.text), "username": "demo", "password": demo["password"], "rid": rid})
    assert signed_in.status_code == 303, signed_in.text
    location = signed_in.headers["Location"]
    for _hop in range(3):  # the provider's own redirects, then the one back to the service
        if location.startswith(example.REDIRECT_URI):
            break
        location = provider.get(urljoin(base, location), allow_redirects=False).headers["Location"]
    back = rp.get("/callback?" + location.split("?", 1)[1])
    assert back.status_code == 200, back.get_data(as_text=True)
    return back.get_data(as_text=True)


def test_the_demo_relying_party_signs_the_demo_citizen_in_with_what_serve_printed(serve):
    _base, _process, log, _instance = serve
    demo = printed_demo(log)

    page = sign_in_through_the_demo_rp(demo)

    assert "<h1>Signed in through Sésame</h1>" in page and "ID token checked by python-jose." in page
    assert "<th>given_name</th><td>Camille</td>" in page


def requirement_names(lines: str) -> set[str]:
    return {re.split(r"[\[<>=!~; ]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")
            for line in lines.splitlines() if line.strip()}


def test_the_quick_start_installs_every_package_the_demo_relying_party_imports():
    quick_start = (ROOT / "README.md").read_text().split("## Quick start", 1)[1]
    command = re.search(r"```sh\n(.+?)\n```", quick_start, re.DOTALL).group(1)
    assert command.count("\n") == 0 and command.endswith("idp serve --demo")  # still one line, one command
    [target] = re.findall(r"pip install -e (\S+)", command)
    extras = re.fullmatch(r"'?\.(?:\[([a-z,]+)\])?'?", target).group(1) or ""
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    installed = requirement_names(setup["options"]["install_requires"])
    for extra in filter(None, extras.split(",")):
        installed |= requirement_names(setup["options.extras_require"][extra])
    imported = {node.names[0].name.split(".")[0] if isinstance(node, ast.Import) else node.module.split(".")[0]
                for node in ast.walk(ast.parse((ROOT / "examples" / "demo_rp.py").read_text()))
                if isinstance(node, ast.Import | ast.ImportFrom) and (isinstance(node, ast.Import) or node.level == 0)}
    providers = importlib.metadata.packages_distributions()
    third_party = {name for name in imported if name in providers and name not in sys.stdlib_module_names}
    assert "jose" in third_party
    for name in third_party:
        assert {d.lower() for d in providers[name]} & installed, f"{name} is not installed by {command!r}"


def test_demo_keeps_its_password_and_client_secret_across_restarts_and_names_its_citizen(tmp_path):
    instance, port = tmp_path / "instance", free_port()
    with serving(tmp_path, instance, port, "first.log") as (_base, _process, log):
        first = printed_demo(log)
    with serving(tmp_path, instance, port, "second.log") as (_base, _process, log):
        second = printed_demo(log)
        page = sign_in_through_the_demo_rp(second)

    assert second == first and len(first["password"]) >= 16 and len(first["client_secret"]) >= 32
    assert first["person"] == ("Camille Martin", "17/05/1990")  # what the sign-up form takes to show the hint
    assert "Signed in through Sésame" in page
    kept = instance / "demo.json"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600


def test_every_link_serve_prints_names_the_issuer_host(serve):
    _base, _process, log, _instance = serve
    text = log.read_text()
    issuer = printed_demo(log)["issuer"]

    hosts = {match.group(1) for match in re.finditer(r"https?://([^/:\s]+)", text)}
    assert issuer.startswith("http://localhost:") and hosts == {"localhost"}, text
    assert f"mails are kept at {issuer}/dev/mail" in text
    assert "open http://localhost:8000/" in text and demo_rp().REDIRECT_URI == "http://localhost:8000/callback"
    assert requests.get(issuer + "/healthz", timeout=5).status_code == 200  # the name reaches the listening socket


@pytest.mark.parametrize("host, issuer_host", [("localhost", "localhost"), ("0.0.0.0", "localhost"),  # noqa: S104
                                               ("::", "localhost"), ("::1", "[::1]"), ("192.0.2.5", "192.0.2.5")])
def test_serve_takes_its_issuer_host_from_the_name_a_browser_uses_for_the_listening_address(host, issuer_host):
    from idp.cli import browsed_host

    assert browsed_host(host) == issuer_host
