"""The console's forms: every action asks for its reason."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

from ..forms import Form

REASON_MAX = 2000


class ReasonForm(Form):
    reason = TextAreaField(_l("Reason"), validators=[
        DataRequired(_l("Give the reason for this action: it is kept in the audit log.")),
        Length(max=REASON_MAX, message=_l("At most 2000 characters."))])
    submit = SubmitField(_l("Confirm"))
