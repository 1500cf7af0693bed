"""The core's HTML forms; Flask-WTF adds and checks the CSRF token of each."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    username = StringField(_l("Identifier or e-mail address"), validators=[DataRequired(), Length(max=254)],
                           render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"})
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)],
                             render_kw={"autocomplete": "current-password"})
    rid = HiddenField()
    submit = SubmitField(_l("Sign in"))


class ConsentForm(FlaskForm):
    rid = HiddenField(validators=[DataRequired()])
    allow = SubmitField(_l("Allow"))
    deny = SubmitField(_l("Deny"))


class LogoutForm(FlaskForm):
    submit = SubmitField(_l("Sign out"))
