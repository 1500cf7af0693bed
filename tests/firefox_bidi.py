"""Debian's firefox-esr driven over WebDriver BiDi, the protocol Firefox speaks natively.

Playwright's own BiDi driver cannot drive firefox-esr 153: every new context sends
``emulation.setMediaFeaturesOverride``, a command this Firefox does not have, and its BiDi
side ignores ``java_script_enabled=False``. This is a small client of our own with just what
the citizen journeys need, shaped as the part of Playwright's sync ``Page`` and ``Locator``
they use, so the same journey runs in Chromium (Playwright) and in Firefox (this module):
``goto``, ``url``, ``title``, ``content``, ``locator``, ``get_by_label``, ``get_by_role``,
``fill``, ``press_sequentially``, ``click``, ``input_value``, ``inner_text``,
``get_attribute``, ``is_visible``, ``evaluate``, ``expect_navigation``, ``reload`` and
``screenshot``.

The citizen's JavaScript is off through the ``javascript.enabled`` preference: the page's
scripts never run, while the queries below run in a BiDi sandbox, outside the page. Typing
and clicking go through ``input.performActions``, real key and pointer events. Locators are
strict as Playwright's: an action on a locator that matches no element, or more than one,
fails.
"""

from __future__ import annotations

import base64
import contextlib
import json
import queue
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

from websockets.sync.client import connect

SANDBOX = "sesame-tests"
REDIRECTS = {301, 302, 303, 307, 308}

# The citizen's Firefox: French first, no page JavaScript, nothing that phones home or pops up.
PREFS = {
    "javascript.enabled": False,
    "intl.accept_languages": "fr-FR, fr",
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.aboutwelcome.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "app.update.auto": False,
    "extensions.update.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.proxy.type": 0,
    "signon.rememberSignons": False,
    "browser.formfill.enable": False,
}

# Runs in the sandbox: the elements a chain of steps finds, as Playwright's selectors would.
RESOLVE = r"""(stepsJson) => {
  const norm = (s) => (s || "").replace(/\s+/g, " ").trim();
  const visible = (e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden";
  const matches = (found, wanted, exact) =>  // whitespace, no-break spaces included, as one space
    exact ? found === norm(wanted) : found.toLowerCase().includes(norm(wanted).toLowerCase());
  const roles = {
    button: "button, input[type=submit], input[type=button], input[type=reset], [role=button]",
    link: "a[href], area[href], [role=link]",
    heading: "h1, h2, h3, h4, h5, h6, [role=heading]",
  };
  const name = (e) => {
    if (e.hasAttribute("aria-label")) return norm(e.getAttribute("aria-label"));
    if (e.hasAttribute("aria-labelledby"))
      return norm(e.getAttribute("aria-labelledby").split(/\s+/)
        .map((id) => (document.getElementById(id) || {}).textContent || "").join(" "));
    if (e.matches("input")) return norm(e.value);
    return norm(e.textContent);
  };
  let found = [document];
  for (const step of JSON.parse(stepsJson)) {
    if (step.nth !== undefined) {
      found = found.slice(step.nth, step.nth + 1);
      continue;
    }
    const next = [];
    for (const root of found) {
      if (step.css !== undefined) next.push(...root.querySelectorAll(step.css));
      if (step.role !== undefined)
        next.push(...[...root.querySelectorAll(roles[step.role])].filter((e) => visible(e)
          && (step.name === null || matches(name(e), step.name, step.exact))));
      if (step.label !== undefined) {
        for (const label of root.querySelectorAll("label"))
          if (label.control && matches(norm(label.textContent), step.label, step.exact)) next.push(label.control);
        for (const e of root.querySelectorAll("[aria-label], [aria-labelledby]"))
          if (!e.matches("label") && matches(name(e), step.label, step.exact)) next.push(e);
      }
      if (step.text !== undefined) {
        const all = [...root.querySelectorAll("body *")].filter((e) => matches(norm(e.textContent), step.text, false));
        next.push(...all.filter((e) => !all.some((other) => other !== e && e.contains(other))));
      }
    }
    found = [...new Set(next)];
  }
  return found;
}"""

NAVIGATES = """(e) => e.matches("a[href], area[href]")
  || (e.matches("button, input[type=submit], input[type=image]") && e.type === "submit" && e.form !== null)"""


class BidiError(AssertionError):
    """Firefox refused a command, or a locator did not find exactly what it should."""


def value_of(remote: dict):
    """A BiDi remote value as Python (strings, numbers, booleans, arrays, null)."""
    kind = remote["type"]
    if kind in ("undefined", "null"):
        return None
    if kind == "array":
        return [value_of(item) for item in remote["value"]]
    if kind == "node":
        return remote
    return remote.get("value")


class Response:
    """The final (after redirects) response of a navigation."""

    def __init__(self, params: dict):
        response = params["response"]
        self.url = response["url"]
        self.status = response["status"]
        self.headers = {h["name"].lower(): h["value"].get("value", "") for h in response["headers"]}


class Firefox:
    """One firefox-esr process, headless, with a fresh profile, and its BiDi session."""

    def __init__(self, binary: str, profile: Path, timeout: float = 30):
        self.timeout = timeout
        profile.mkdir(parents=True, exist_ok=True)
        (profile / "user.js").write_text(
            "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in PREFS.items()))
        self.process = subprocess.Popen(
            [binary, "--headless", "--no-remote", "--profile", str(profile), "--remote-debugging-port=0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self._stack = contextlib.ExitStack()
        self._stack.callback(self._stop)
        try:
            endpoint = self._endpoint()
            self._ws = self._stack.enter_context(connect(f"{endpoint}/session", max_size=None, open_timeout=timeout))
            self._id = 0
            self._answers: dict[int, dict] = {}
            self.events: list[dict] = []
            self.send("session.new", capabilities={})
            self.send("session.subscribe", events=[
                "browsingContext.navigationStarted", "browsingContext.load", "network.responseCompleted"])
        except BaseException:
            self._stack.close()
            raise

    def _endpoint(self) -> str:
        lines: queue.Queue = queue.Queue()

        def read():
            for line in self.process.stderr:
                lines.put(line)

        threading.Thread(target=read, daemon=True).start()  # also drains stderr for the run's length
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            found = re.search(r"WebDriver BiDi listening on (ws://\S+)", line)
            if found:
                return found.group(1)
        raise RuntimeError("firefox-esr did not open its WebDriver BiDi port")

    def _stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send("browser.close")
        self._stack.close()

    def _receive(self, timeout: float) -> None:
        message = json.loads(self._ws.recv(timeout=timeout))
        if message.get("type") == "event":
            self.events.append(message)
        else:
            self._answers[message["id"]] = message

    def send(self, method: str, **params) -> dict:
        self._id += 1
        ident = self._id
        self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout
        while ident not in self._answers:
            self._receive(max(0.01, deadline - time.monotonic()))
        answer = self._answers.pop(ident)
        if answer["type"] == "error":
            raise BidiError(f"{method}: {answer['error']}: {answer.get('message', '')}")
        return answer["result"]

    def wait_event(self, method: str, **wanted) -> dict:
        """The first event (kept or to come) named ``method`` whose params hold ``wanted``; consumed."""
        deadline = time.monotonic() + self.timeout
        while True:
            for event in self.events:
                params = event["params"]
                if event["method"] == method and all(params.get(k) == v for k, v in wanted.items()):
                    self.events.remove(event)
                    return params
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BidiError(f"no {method} event {wanted} within {self.timeout} s")
            self._receive(remaining)

    def new_page(self) -> Page:
        """A tab in a user context of its own: no cookie nor storage from another test."""
        user_context = self.send("browser.createUserContext")["userContext"]
        context = self.send("browsingContext.create", type="tab", userContext=user_context)["context"]
        return Page(self, context, user_context)


class Page:
    """The part of Playwright's sync ``Page`` the journeys use."""

    screenshot_prefix = "firefox-"

    def __init__(self, firefox: Firefox, context: str, user_context: str):
        self.firefox, self.context, self.user_context = firefox, context, user_context
        self._last: Response | None = None

    def close(self) -> None:
        self.firefox.send("browsingContext.close", context=self.context)
        self.firefox.send("browser.removeUserContext", userContext=self.user_context)
        self._forget_events()  # what came after the last action, a favicon's response say

    def _forget_events(self) -> None:
        self.firefox.events = [e for e in self.firefox.events if e["params"].get("context") != self.context]

    def _response(self, navigation: str) -> Response:
        """The navigation's final response: the first one of it that is not a redirect."""
        while True:
            params = self.firefox.wait_event("network.responseCompleted", context=self.context, navigation=navigation)
            if params["response"]["status"] not in REDIRECTS:
                self._last = Response(params)
                return self._last

    def _navigated(self) -> Response:
        """Wait for the navigation an action started to load; its response."""
        navigation = self.firefox.wait_event("browsingContext.navigationStarted", context=self.context)["navigation"]
        self.firefox.wait_event("browsingContext.load", context=self.context, navigation=navigation)
        return self._response(navigation)

    def call(self, function: str, *arguments) -> object:
        """Run a JavaScript function in the sandbox (never the page's own scripts); its value."""
        result = self.firefox.send(
            "script.callFunction", functionDeclaration=function, awaitPromise=False,
            target={"context": self.context, "sandbox": SANDBOX}, arguments=list(arguments),
            serializationOptions={"maxDomDepth": 0})
        if result["type"] == "exception":
            raise BidiError(f"{function}: {result['exceptionDetails']['text']}")
        return value_of(result["result"])

    def goto(self, url: str) -> Response:
        self._forget_events()
        navigation = self.firefox.send("browsingContext.navigate", context=self.context, url=url,
                                       wait="complete")["navigation"]
        return self._response(navigation)

    def reload(self) -> Response:
        self._forget_events()
        navigation = self.firefox.send("browsingContext.reload", context=self.context, wait="complete")["navigation"]
        return self._response(navigation)

    @contextlib.contextmanager
    def expect_navigation(self):
        """As Playwright's: ``.value`` is the response of the page the block's action led to."""
        waiting = type("Navigation", (), {})()
        self._last = None
        yield waiting
        if self._last is None:
            raise BidiError("the action did not navigate")
        waiting.value = self._last

    @property
    def url(self) -> str:
        return self.firefox.send("browsingContext.getTree", root=self.context, maxDepth=0)["contexts"][0]["url"]

    def title(self) -> str:
        return self.call("() => document.title")

    def content(self) -> str:
        return self.call("() => new XMLSerializer().serializeToString(document)")

    def screenshot(self, path: str, full_page: bool = False) -> None:
        data = self.firefox.send("browsingContext.captureScreenshot", context=self.context,
                                 origin="document" if full_page else "viewport")["data"]
        Path(path).write_bytes(base64.b64decode(data))

    def locator(self, selector: str) -> Locator:
        return Locator(self, []).locator(selector)

    def get_by_label(self, text: str, exact: bool = False) -> Locator:
        return Locator(self, []).get_by_label(text, exact=exact)

    def get_by_role(self, role: str, name: str | None = None, exact: bool = False) -> Locator:
        return Locator(self, []).get_by_role(role, name=name, exact=exact)

    def fill(self, selector: str, value: str) -> None:
        self.locator(selector).fill(value)

    def click(self, selector: str) -> None:
        self.locator(selector).click()

    def input_value(self, selector: str) -> str:
        return self.locator(selector).input_value()


class Locator:
    """The part of Playwright's ``Locator`` the journeys use, strict as it is."""

    def __init__(self, page: Page, steps: list[dict]):
        self.page, self.steps = page, steps

    def __repr__(self) -> str:
        return f"Locator({self.steps})"

    def _then(self, step: dict) -> Locator:
        return Locator(self.page, [*self.steps, step])

    def locator(self, selector: str) -> Locator:
        if selector.startswith("text="):
            return self._then({"text": selector.removeprefix("text=")})
        return self._then({"css": selector})

    def get_by_label(self, text: str, exact: bool = False) -> Locator:
        return self._then({"label": text, "exact": exact})

    def get_by_role(self, role: str, name: str | None = None, exact: bool = False) -> Locator:
        return self._then({"role": role, "name": name, "exact": exact})

    @property
    def first(self) -> Locator:
        return self._then({"nth": 0})

    def _elements(self) -> list[dict]:
        return self.page.call(RESOLVE, {"type": "string", "value": json.dumps(self.steps)})

    def _element(self) -> dict:
        found = self._elements()
        if len(found) != 1:
            raise BidiError(f"{self!r} matched {len(found)} elements, not one")
        return {"sharedId": found[0]["sharedId"]}

    def _on(self, function: str, *arguments) -> object:
        return self.page.call(function, self._element(), *arguments)

    def count(self) -> int:
        return len(self._elements())

    def inner_text(self) -> str:
        return self._on("(e) => e.innerText")

    def all_inner_texts(self) -> list[str]:
        return [self.page.call("(e) => e.innerText", {"sharedId": e["sharedId"]}) for e in self._elements()]

    def get_attribute(self, name: str) -> str | None:
        return self._on("(e, name) => e.getAttribute(name)", {"type": "string", "value": name})

    def input_value(self) -> str:
        return self._on("(e) => e.value")

    def is_visible(self) -> bool:
        found = self._elements()
        return len(found) == 1 and self.page.call(
            "(e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden'",
            {"sharedId": found[0]["sharedId"]})

    def evaluate(self, function: str) -> object:
        return self._on(function)

    def _keys(self, text: str) -> None:
        actions = []
        for character in text:
            actions += [{"type": "keyDown", "value": character}, {"type": "keyUp", "value": character}]
        self.page.firefox.send("input.performActions", context=self.page.context,
                               actions=[{"type": "key", "id": "keyboard", "actions": actions}])

    def fill(self, value: str) -> None:
        """Focus the field, select what it holds and type over it, as a person would."""
        self._on("(e) => { e.focus(); if (e.select) e.select(); }")
        self._keys(value or "\ue003")  # nothing to type: Backspace empties the selection

    def press_sequentially(self, text: str) -> None:
        self._on("(e) => e.focus()")
        self._keys(text)

    def click(self) -> None:
        """A pointer click at the element's centre; when it is a link or a submit button, wait for
        the page it leads to."""
        element = self._element()
        navigates = self.page.call(NAVIGATES, element)
        self.page.call("(e) => e.scrollIntoView({block: 'center'})", element)
        self.page._forget_events()
        self.page.firefox.send("input.performActions", context=self.page.context, actions=[{
            "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": [
                {"type": "pointerMove", "x": 0, "y": 0, "origin": {"type": "element", "element": element}},
                {"type": "pointerDown", "button": 0}, {"type": "pointerUp", "button": 0}]}])
        if navigates:
            self.page._navigated()


ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the WebDriver element reference's key


class Marionette:
    """Debian's firefox-esr with JavaScript on, driven over Marionette, Firefox's own classic-WebDriver
    protocol (length-prefixed JSON on a loopback port), for the one thing BiDi lacks in this Firefox:
    the WebAuthn extension commands, a virtual authenticator (``webauthn.*`` is an unknown command
    over BiDi in firefox-esr 153). Only what the passkey journeys use: ``goto``, ``url``, ``run``,
    ``fill``, ``click``, ``wait_for``, ``delete_cookies`` and ``add_virtual_authenticator``."""

    def __init__(self, binary: str, profile: Path, timeout: float = 30):
        self.timeout = timeout
        profile.mkdir(parents=True, exist_ok=True)
        prefs = {**PREFS, "javascript.enabled": True, "marionette.port": 0,  # 0: a free port, written below
                 # WebAuthn goes to the virtual authenticators, never to a USB key nor the OS's
                 "security.webauth.webauthn_enable_softtoken": True,
                 "security.webauth.webauthn_enable_usbtoken": False}
        (profile / "user.js").write_text(
            "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items()))
        self.process = subprocess.Popen(
            [binary, "--headless", "--no-remote", "--profile", str(profile), "--marionette"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._stack = contextlib.ExitStack()
        self._stack.callback(self._stop)
        try:
            port_file = profile / "MarionetteActivePort"
            deadline = time.monotonic() + timeout
            while not (port_file.exists() and port_file.read_text().strip()):
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("firefox-esr did not open its Marionette port")
                time.sleep(0.05)
            self._socket = self._stack.enter_context(
                socket.create_connection(("127.0.0.1", int(port_file.read_text())), timeout=timeout))
            self._stream = self._stack.enter_context(self._socket.makefile("rb"))
            self._id = 0
            self._read()  # the greeting: {"applicationType": "gecko", "marionetteProtocol": 3}
            self.send("WebDriver:NewSession", capabilities={"alwaysMatch": {"pageLoadStrategy": "normal"}})
        except BaseException:
            self._stack.close()
            raise

    _stop = Firefox._stop

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send("WebDriver:DeleteSession")
        self._stack.close()

    def _read(self):
        length = b""
        while not length.endswith(b":"):
            byte = self._stream.read(1)
            if not byte:
                raise BidiError("Marionette closed the connection")
            length += byte
        return json.loads(self._stream.read(int(length[:-1])))

    def send(self, command: str, **params) -> object:
        self._id += 1
        body = json.dumps([0, self._id, command, params]).encode()
        self._socket.sendall(str(len(body)).encode() + b":" + body)
        while True:
            _kind, ident, error, result = self._read()
            if ident == self._id:
                break
        if error:
            raise BidiError(f"{command}: {error['error']}: {error.get('message', '')}")
        return result.get("value") if isinstance(result, dict) else result

    def add_virtual_authenticator(self, **options) -> str:
        return self.send("WebAuthn:AddVirtualAuthenticator", **{
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
            "isUserConsenting": True, "isUserVerified": True, **options})

    def goto(self, url: str) -> None:
        self.send("WebDriver:Navigate", url=url)

    @property
    def url(self) -> str:
        return self.send("WebDriver:GetCurrentURL")

    def run(self, script: str, *arguments) -> object:
        """A function body run in the page (``arguments`` as in classic WebDriver); its value."""
        return self.send("WebDriver:ExecuteScript", script=script, args=list(arguments))

    def _element(self, selector: str) -> str:
        return self.send("WebDriver:FindElement", using="css selector", value=selector)[ELEMENT]

    def fill(self, selector: str, value: str) -> None:
        element = self._element(selector)
        self.send("WebDriver:ElementClear", id=element)
        self.send("WebDriver:ElementSendKeys", id=element, text=value)

    def click(self, selector: str) -> None:
        """A click; a link or a form's submit waits for its page, a script's navigation does not
        (``wait_for`` it)."""
        self.send("WebDriver:ElementClick", id=self._element(selector))

    def wait_for(self, script: str, *arguments, timeout: float = 10) -> object:
        """Until the function body ``script`` returns something true (a page that loads in between is
        no error); that value."""
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(BidiError):
                value = self.run(script, *arguments)
                if value:
                    return value
            if time.monotonic() > deadline:
                raise BidiError(f"not true within {timeout} s: {script}")
            time.sleep(0.05)

    def delete_cookies(self) -> None:
        self.send("WebDriver:DeleteAllCookies")
