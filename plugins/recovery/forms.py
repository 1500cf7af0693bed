"""The recovery plugin's forms; Flask-WTF adds and checks the CSRF token of each."""

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, PasswordField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp

from idp.forms import ENTER_EMAIL, ENTER_LOGIN, Form, NewPasswordForm, PersonForm, at_most, email_address

RID = [Regexp(r"^[A-Za-z0-9_-]{0,32}$")]  # a pending authorization request's id, or nothing


class PasswordRequestForm(Form):
    login = StringField(_l("Identifier or e-mail address"), validators=[DataRequired(ENTER_LOGIN), at_most(254)],
                        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"})
    rid = HiddenField(validators=RID)
    submit = SubmitField(_l("Submit"))


class IdentifierRequestForm(Form):
    email = StringField(_l("E-mail address"),
                        validators=[DataRequired(_l("Enter the e-mail address of your account.")), at_most(254)],
                        render_kw={"autocomplete": "email", "type": "email", "autocapitalize": "none",
                                   "spellcheck": "false"})
    rid = HiddenField(validators=RID)
    submit = SubmitField(_l("Submit"))


class ResetForm(NewPasswordForm):
    """The form behind a reset link."""


class SignupForm(PersonForm):
    email = StringField(_l("E-mail address"), validators=[DataRequired(ENTER_EMAIL), at_most(254), email_address],
                        render_kw={"autocomplete": "email", "type": "email", "autocapitalize": "none",
                                   "spellcheck": "false"})
    username = StringField(
        _l("Identifier"),
        validators=[DataRequired(_l("Choose an identifier.")),
                    Length(min=3, max=64, message=_l("Choose an identifier of %(min)d to %(max)d characters.")),
                    Regexp(r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                           message=_l("Use letters without accents, digits, dots, hyphens or underscores."))],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Choose a password.")), at_most(1024)],
                             render_kw={"autocomplete": "new-password"})
    password_confirm = PasswordField(
        _l("Password, again"),
        validators=[DataRequired(_l("Enter the password again.")),
                    EqualTo("password", message=_l("The two passwords differ."))],
        render_kw={"autocomplete": "new-password"},
    )
    rid = HiddenField(validators=RID)
    submit = SubmitField(_l("Create my account"))


class SignupPasswordForm(Form):
    """Confirming a sign-up: the password chosen then (the mailbox's owner may not be who chose it)."""

    password = PasswordField(_l("The password you chose when you signed up"),
                             validators=[DataRequired(_l("Enter the password you chose when you signed up.")),
                                         at_most(1024)],
                             render_kw={"autocomplete": "current-password"})
    submit = SubmitField(_l("Confirm my address"))


class SignupNewPasswordForm(NewPasswordForm):
    """Confirming a sign-up someone else may have made: a password of the mailbox owner's own."""

    submit = SubmitField(_l("Choose this password and confirm my address"))


class HelpRequestForm(PersonForm):
    username = StringField(_l("Identifier, if you remember it"), validators=[Optional(), at_most(64)],
                           render_kw={"autocomplete": "username", "autocapitalize": "none"})
    new_email = StringField(_l("New e-mail address"),
                            validators=[DataRequired(_l("Enter your new e-mail address, for example name@example.fr.")),
                                        at_most(254), email_address],
                            render_kw={"autocomplete": "email", "type": "email", "autocapitalize": "none"})
    message = TextAreaField(_l("Message for the help desk"), validators=[Optional(), at_most(2000)])
    rid = HiddenField(validators=RID)
    submit = SubmitField(_l("Send my request"))
