"""The core's HTML forms; Flask-WTF adds and checks the CSRF token of each."""

import datetime as dt
import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, Optional, Regexp, ValidationError

from .users import valid_email


def email_address(_form, field) -> None:
    """One bare e-mail address; the field then holds it normalised (see ``users.valid_email``)."""
    address = valid_email(field.data or "")
    if address is None:
        raise ValidationError(_l("Enter a valid e-mail address."))
    field.data = address


CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tab and line breaks stay allowed


class Form(FlaskForm):
    """Every form of Sésame: what no citizen types (NUL and other control characters) is refused,
    on every field, before it can reach a lookup or the database."""

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for field in self:
            if isinstance(field.data, str) and CONTROL_CHARACTERS.search(field.data):
                field.errors = [*field.errors, _l("This field contains characters that are not allowed.")]
                valid = False
        return valid


PHONE = Regexp(r"^\+?[0-9 .()-]{6,31}$", message=_l("Enter a phone number, for example 06 12 34 56 78."))


class LoginForm(Form):
    username = StringField(_l("Identifier or e-mail address"), validators=[DataRequired(), Length(max=254)],
                           render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"})
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)],
                             render_kw={"autocomplete": "current-password"})
    shared_computer = BooleanField(_l("Shared computer: don't keep me signed in"))
    rid = HiddenField()
    next = HiddenField(validators=[Length(max=2048)])  # the signed-in page the citizen was going to
    submit = SubmitField(_l("Sign in"))


class ConsentForm(Form):
    rid = HiddenField(validators=[DataRequired()])
    allow = SubmitField(_l("Allow"))
    deny = SubmitField(_l("Deny"))


class LogoutForm(Form):
    submit = SubmitField(_l("Sign out"))


# Typed as text, as the hint under it says: a browser's date picker follows the browser's language, not the page's.
BIRTHDATE_INPUT = {"autocomplete": "bday", "type": "text", "inputmode": "numeric", "placeholder": "1984-07-14"}


def real_birthdate(_form, field) -> None:
    if field.data and not (dt.date(1900, 1, 1) <= field.data <= dt.date.today()):
        raise ValidationError(_l("Enter a real date of birth."))


class PersonForm(Form):
    """Who the citizen is, asked the same way by sign-up, the help form and the account page."""

    given_name = StringField(_l("Given name"), validators=[DataRequired(), Length(max=100)],
                             render_kw={"autocomplete": "given-name"})
    family_name = StringField(_l("Family name"), validators=[DataRequired(), Length(max=100)],
                              render_kw={"autocomplete": "family-name"})
    birthdate = DateField(_l("Date of birth"),
                          validators=[InputRequired(_l("Enter your date of birth.")), real_birthdate],
                          render_kw=BIRTHDATE_INPUT)


class NewPasswordForm(Form):
    """A new password typed twice (reset link, account page); the policy is checked by the view."""

    new_password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=1024)],
                                 render_kw={"autocomplete": "new-password"})
    new_password_confirm = PasswordField(
        _l("New password, again"),
        validators=[DataRequired(), EqualTo("new_password", message=_l("The two passwords differ."))],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField(_l("Change my password"))


class AccountForm(PersonForm):
    """Mes infos personnelles: what relying parties receive as claims."""

    birthdate = DateField(_l("Date of birth"), validators=[Optional(), real_birthdate],
                          render_kw=BIRTHDATE_INPUT)  # accounts made before it was asked may lack it
    email = StringField(_l("E-mail address"), validators=[DataRequired(), Length(max=254), email_address],
                        render_kw={"autocomplete": "email", "type": "email", "autocapitalize": "none"})
    phone_number = StringField(_l("Phone number"), validators=[Optional(), Length(max=32), PHONE],
                               render_kw={"autocomplete": "tel", "type": "tel"})
    street_address = StringField(_l("Street address"), validators=[Optional(), Length(max=200)],
                                 render_kw={"autocomplete": "street-address"})
    postal_code = StringField(_l("Postal code"), validators=[Optional(), Length(max=16)],
                              render_kw={"autocomplete": "postal-code"})
    locality = StringField(_l("Town or city"), validators=[Optional(), Length(max=100)],
                           render_kw={"autocomplete": "address-level2"})
    # Checked by the view only when a guarded detail changes (account.GUARDED, the e-mail address).
    current_password = PasswordField(_l("Current password"), validators=[Optional(), Length(max=1024)],
                                     render_kw={"autocomplete": "current-password"})
    submit = SubmitField(_l("Save"))


class PasswordChangeForm(NewPasswordForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=1024)],
                                     render_kw={"autocomplete": "current-password"})


class ConfirmForm(Form):
    submit = SubmitField(_l("Confirm"))
