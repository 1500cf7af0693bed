"""Which errors a page shows, gathered once before it is rendered (RGAA 4.1 theme 11).

Every template is given ``page_errors``: a list of ``(field id, message)`` pairs, the field id
``None`` for a message tied to no one field (the ``error`` a view passes, such as "Incorrect
identifier or password."). ``base.html`` then starts the ``<title>`` with "Error:", and the
``error_summary`` macro lists them as links to their fields, so a new form gets both for free."""

from flask import Flask, before_render_template
from wtforms import Form

NOT_SHOWN = {"csrf_token"}  # a refused CSRF token answers its own error page


def page_errors(context: dict) -> list[tuple[str | None, str]]:
    errors = [(None, str(context["error"]))] if context.get("error") else []
    forms = {id(value): value for value in context.values() if isinstance(value, Form)}
    for form in forms.values():
        errors += [(field.id, str(message)) for field in form if field.name not in NOT_SHOWN
                   for message in field.errors]
    return errors


def _gather(_app: Flask, template, context: dict, **_extra) -> None:
    context.setdefault("page_errors", page_errors(context))


def init_app(app: Flask) -> None:
    before_render_template.connect(_gather, app)
