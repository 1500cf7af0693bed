"""The recovery plugin's forms; Flask-WTF adds and checks the CSRF token of each."""

import datetime as dt

from flask_babel import lazy_gettext as _l
from wtforms import DateField, HiddenField, PasswordField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, Optional, Regexp, ValidationError

from idp.forms import EMAIL, Form

RID = [Regexp(r"^[A-Za-z0-9_-]{0,32}$")]  # a pending authorization request's id, or nothing


class PasswordRequestForm(Form):
    login = StringField(_l("Identifier or e-mail address"), validators=[DataRequired(), Length(max=254)],
                        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"})
    rid = HiddenField(validators=RID)
    submit = SubmitField(_l("Submit"))


class IdentifierRequestForm(Form):
    email = StringField(_l("E-mail address"), validators=[DataRequired(), Length(max=254)],
                        render_kw={"autocomplete": "email", "type": "email", "autocapitalize": "none",
                                   "spellcheck": "false"})
    rid = HiddenField(validators=RID)
    submit = SubmitField(_l("Submit"))


class ResetForm(Form):
    new_password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=1024)],
                                 render_kw={"autocomplete": "new-password"})
    new_password_confirm = PasswordField(
        _l("New password, again"),
        validators=[DataRequired(), EqualTo("new_password", message=_l("The two passwords differ."))],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField(_l("Change my password"))


def _not_in_the_future(_form, field) -> None:
    if field.data and not (dt.date(1900, 1, 1) <= field.data <= dt.date.today()):
        raise ValidationError(_l("Enter a real date of birth."))


class SignupForm(Form):
    given_name = StringField(_l("Given name"), validators=[DataRequired(), Length(max=100)],
                             render_kw={"autocomplete": "given-name"})
    family_name = StringField(_l("Family name"), validators=[DataRequired(), Length(max=100)],
                              render_kw={"autocomplete": "family-name"})
    birthdate = DateField(_l("Date of birth"), validators=[InputRequired(_l("Enter your date of birth.")),
                                                           _not_in_the_future],
                          render_kw={"autocomplete": "bday"})
    email = StringField(_l("E-mail address"), validators=[DataRequired(), Length(max=254), EMAIL],
                        render_kw={"autocomplete": "email", "type": "email", "autocapitalize": "none",
                                   "spellcheck": "false"})
    username = StringField(
        _l("Identifier"),
        validators=[DataRequired(), Length(min=3, max=64),
                    Regexp(r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                           message=_l("Use letters without accents, digits, dots, hyphens or underscores."))],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)],
                             render_kw={"autocomplete": "new-password"})
    password_confirm = PasswordField(
        _l("Password, again"),
        validators=[DataRequired(), EqualTo("password", message=_l("The two passwords differ."))],
        render_kw={"autocomplete": "new-password"},
    )
    rid = HiddenField(validators=RID)
    submit = SubmitField(_l("Create my account"))


class HelpRequestForm(Form):
    given_name = StringField(_l("Given name"), validators=[DataRequired(), Length(max=100)],
                             render_kw={"autocomplete": "given-name"})
    family_name = StringField(_l("Family name"), validators=[DataRequired(), Length(max=100)],
                              render_kw={"autocomplete": "family-name"})
    birthdate = DateField(_l("Date of birth"), validators=[InputRequired(_l("Enter your date of birth.")),
                                                           _not_in_the_future],
                          render_kw={"autocomplete": "bday"})
    username = StringField(_l("Identifier, if you remember it"), validators=[Optional(), Length(max=64)],
                           render_kw={"autocomplete": "username", "autocapitalize": "none"})
    new_email = StringField(_l("New e-mail address"), validators=[DataRequired(), Length(max=254), EMAIL],
                            render_kw={"autocomplete": "email", "type": "email", "autocapitalize": "none"})
    message = TextAreaField(_l("Message for the help desk"), validators=[Optional(), Length(max=2000)])
    rid = HiddenField(validators=RID)
    submit = SubmitField(_l("Send my request"))
