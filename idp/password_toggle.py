"""The "show password" button, the one script of the site: progressive enhancement (every form
works without it), inlined by ``base.html`` and allowed by the CSP by its SHA-256 hash, so no
other script can run. Its two labels come from the ``<script>`` element's ``data-show`` and
``data-hide`` attributes, in the page's language."""

import base64
import hashlib

from flask import Flask
from markupsafe import Markup

SCRIPT = """
(function () {
  var labels = document.currentScript.dataset;
  document.querySelectorAll("input[type=password]").forEach(function (input) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "password-toggle secondary";
    button.setAttribute("aria-controls", input.id);
    button.textContent = labels.show;
    button.addEventListener("click", function () {
      var hidden = input.type === "password";
      input.type = hidden ? "text" : "password";
      button.textContent = hidden ? labels.hide : labels.show;
    });
    if (input.form) {
      input.form.addEventListener("submit", function () {
        input.type = "password";
        button.textContent = labels.show;
      });
    }
    input.insertAdjacentElement("afterend", button);
  });
})();
"""

DIGEST = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
SOURCE = f"'sha256-{DIGEST}'"


def init_app(app: Flask) -> None:
    # A constant of this module, never anything typed: marked safe so it is inlined byte for byte, as hashed.
    app.jinja_env.globals["password_toggle_script"] = Markup(SCRIPT)  # noqa: S704
