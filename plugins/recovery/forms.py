"""The recovery plugin's forms; Flask-WTF adds and checks the CSRF token of each."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

RID = [Regexp(r"^[A-Za-z0-9_-]{0,32}$")]  # a pending authorization request's id, or nothing


class PasswordRequestForm(FlaskForm):
    login = StringField(_l("Identifier or e-mail address"), validators=[DataRequired(), Length(max=254)],
                        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"})
    rid = HiddenField(validators=RID)
    submit = SubmitField(_l("Submit"))


class IdentifierRequestForm(FlaskForm):
    email = StringField(_l("E-mail address"), validators=[DataRequired(), Length(max=254)],
                        render_kw={"autocomplete": "email", "type": "email", "autocapitalize": "none",
                                   "spellcheck": "false"})
    rid = HiddenField(validators=RID)
    submit = SubmitField(_l("Submit"))


class ResetForm(FlaskForm):
    new_password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=1024)],
                                 render_kw={"autocomplete": "new-password"})
    new_password_confirm = PasswordField(
        _l("New password, again"),
        validators=[DataRequired(), EqualTo("new_password", message=_l("The two passwords differ."))],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField(_l("Change my password"))


class ConfirmForm(FlaskForm):
    submit = SubmitField(_l("Confirm"))
