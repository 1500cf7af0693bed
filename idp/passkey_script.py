"""The passkeys' script: the browser's half of the two ceremonies (idp/passkeys.py), on the login
page and on "Mes clés d'accès".  Inlined like the "show password" button's script and allowed by
the CSP by its SHA-256 hash; its sentences come from the ``<script>`` element's ``data-*``
attributes, in the page's language.

Progressive enhancement: the buttons carry ``hidden`` and are shown only where the browser has
WebAuthn with its JSON helpers (Chromium, Firefox); elsewhere the password form is untouched.
On the login page a conditional-mediation request lets the browser offer its passkeys in the
identifier field's autofill (``autocomplete="username webauthn"``).

When a ceremony fails (cancelled, timed out, or refused by the server: a removed passkey, a closed
account), the sentence shows in the status element (``role="alert"``) and the field to act on gets
the focus, described by that sentence (``aria-describedby``): the identifier on the login page, so
the password form is ready to type; the current password on "Mes clés d'accès" when it was refused,
marked ``aria-invalid``.
"""

import base64
import hashlib

from flask import Flask
from markupsafe import Markup

SCRIPT = """
(function () {
  var said = document.currentScript.dataset;
  var PKC = window.PublicKeyCredential;
  if (!PKC || !navigator.credentials || typeof PKC.parseRequestOptionsFromJSON !== "function") {
    return;  /* no WebAuthn here: the buttons stay hidden, the password form works as before */
  }
  var status = document.querySelector("[data-passkey-status]");
  var csrf = document.querySelector("input[name=csrf_token]");
  if (status && !status.id) { status.id = "passkey-status"; }
  function tell(text, field) {
    if (status) { status.textContent = text; status.hidden = false; }
    if (!field) { return; }
    var ids = (field.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    if (status && ids.indexOf(status.id) < 0) { ids.push(status.id); }
    field.setAttribute("aria-describedby", ids.join(" "));
    field.focus();
  }
  function post(path, body) {
    return fetch(path, {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf ? csrf.value : ""},
      body: JSON.stringify(body)}).then(function (answer) {
        return answer.json().then(function (data) {
          if (!answer.ok) {
            var error = new Error(data.message || said.failed);
            error.known = true; error.kind = data.error; throw error;
          }
          return data;
        });
      });
  }
  function failed(error, field) {
    tell(error && error.known ? error.message
         : (error && (error.name === "NotAllowedError" || error.name === "AbortError")) ? said.cancelled
         : said.failed, field);
  }
  var pending = null;
  function signIn(mediation) {
    var rid = document.querySelector("input[name=rid]");
    return post("/login/passkey/options", {}).then(function (options) {
      var request = {publicKey: PKC.parseRequestOptionsFromJSON(options.publicKey)};
      if (mediation) {
        pending = new AbortController();
        request.mediation = "conditional";
        request.signal = pending.signal;
      }
      return navigator.credentials.get(request);
    }).then(function (credential) {
      return post("/login/passkey/verify", {credential: credential.toJSON(), rid: rid ? rid.value : null});
    }).then(function (done) { window.location.assign(done.redirect); });
  }
  var login = document.querySelector("[data-passkey-login]");
  if (login) {
    login.hidden = false;
    var username = document.querySelector("input[name=username]");
    var loginFailed = function (error) { failed(error, username); };  /* the password form, ready to type */
    login.addEventListener("click", function () {
      if (pending) { pending.abort(); pending = null; }
      signIn(false).catch(loginFailed);
    });
    if (typeof PKC.isConditionalMediationAvailable === "function") {
      PKC.isConditionalMediationAvailable().then(function (available) {
        if (available) {
          /* The autofill waits in the background while the citizen types: only the provider's answer to a
             passkey they picked is told; the browser giving up on its own says nothing and takes no focus. */
          signIn(true).catch(function (error) { if (error && error.known) { loginFailed(error); } });
        }
      });
    }
  }
  var register = document.querySelector("[data-passkey-register]");
  if (register && typeof PKC.parseCreationOptionsFromJSON === "function") {
    register.hidden = false;
    var form = register.form;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      /* No password field on the offer after a sign-up or a reset: it was typed at that sign-in. */
      var password = form.querySelector("[name=current_password]");
      if (password) { password.removeAttribute("aria-invalid"); }
      post("/account/passkeys/options", {current_password: password ? password.value : ""}).then(function (options) {
        return navigator.credentials.create({publicKey: PKC.parseCreationOptionsFromJSON(options.publicKey)});
      }).then(function (credential) {
        return post("/account/passkeys/verify", credential.toJSON());
      }).then(function (done) { window.location.assign(done.next || said.added); }).catch(function (error) {
        var refused = password && error && error.kind === "password";  /* refused: type it again */
        if (refused) { password.setAttribute("aria-invalid", "true"); }
        failed(error, refused ? password : null);
      });
    });
  }
})();
"""

DIGEST = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
SOURCE = f"'sha256-{DIGEST}'"


def init_app(app: Flask) -> None:
    # A constant of this module, never anything typed: marked safe so it is inlined byte for byte, as hashed.
    app.jinja_env.globals["passkey_script"] = Markup(SCRIPT)  # noqa: S704
