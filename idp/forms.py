"""The core's HTML forms; Flask-WTF adds and checks the CSRF token of each."""

import datetime as dt
import functools
import re

from babel import support
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, Field, HiddenField, PasswordField, StringField, SubmitField
from wtforms.i18n import messages_path
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, Optional, Regexp, ValidationError
from wtforms.widgets import TextInput

from .identity import EARLIEST_BIRTHDATE, birthdate_numbers, parse_birthdate
from .users import valid_email


def email_address(_form, field) -> None:
    """One bare e-mail address; the field then holds it normalised (see ``users.valid_email``)."""
    address = valid_email(field.data or "")
    if address is None:
        raise ValidationError(_l("Enter a valid e-mail address."))
    field.data = address


CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tab and line breaks stay allowed


@functools.lru_cache(maxsize=8)
def _wtforms_translations(locale: str):
    # Flask-WTF reads WTForms' catalogue from disk for every request that renders a form.
    return support.Translations.load(messages_path(), [locale], domain="wtforms")


class Form(FlaskForm):
    """Every form of Sésame: what no citizen types (NUL and other control characters) is refused,
    on every field, before it can reach a lookup or the database."""

    class Meta:
        def get_translations(self, form):
            return _wtforms_translations(str(get_locale()))

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for field in self:
            if isinstance(field.data, str) and CONTROL_CHARACTERS.search(field.data):
                field.errors = [*field.errors, _l("This field contains characters that are not allowed.")]
                valid = False
        return valid


def at_most(count: int) -> Length:
    """A length limit whose message says what to do (WTForms' own only says what is wrong)."""
    return Length(max=count, message=_l("Shorten this to %(max)d characters at most."))


# What a required field says when left empty: what to type, not "this field is required".
ENTER_LOGIN = _l("Enter your identifier or your e-mail address.")
ENTER_EMAIL = _l("Enter your e-mail address, for example name@example.fr.")

PHONE = Regexp(r"^\+?[0-9 .()-]{6,31}$", message=_l("Enter a phone number, for example 06 12 34 56 78."))


class LoginForm(Form):
    username = StringField(_l("Identifier or e-mail address"), validators=[DataRequired(ENTER_LOGIN), at_most(254)],
                           # "webauthn": the browser may offer the passkeys it holds in this field's autofill
                           render_kw={"autocomplete": "username webauthn", "autocapitalize": "none",
                                      "spellcheck": "false"})
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password.")), at_most(1024)],
                             render_kw={"autocomplete": "current-password"})
    shared_computer = BooleanField(_l("Shared computer: don't keep me signed in"))
    rid = HiddenField()
    next = HiddenField(validators=[at_most(2048)])  # the signed-in page the citizen was going to
    submit = SubmitField(_l("Sign in"))


class ConsentForm(Form):
    rid = HiddenField(validators=[DataRequired()])
    allow = SubmitField(_l("Allow"))
    deny = SubmitField(_l("Deny"))


class LogoutForm(Form):
    submit = SubmitField(_l("Sign out"))


FIVE_DIGITS = re.compile(r"[0-9]{5}")


def french_postal_code(_form, field) -> None:
    """Five digits (``35000``); spaces typed inside (``35 000``) are dropped, and the field then holds the code."""
    code = "".join((field.data or "").split())
    if not FIVE_DIGITS.fullmatch(code):
        raise ValidationError(_l("Enter a five-digit postal code, for example 35000."))
    field.data = code


# Typed as text, as the hint under it says: a browser's date picker follows the browser's language, not the page's.
BIRTHDATE_INPUT = {"autocomplete": "bday", "type": "text", "inputmode": "numeric", "placeholder": _l("DD/MM/YYYY")}
BIRTHDATE_UNREADABLE = _l("Enter your date of birth as DD/MM/YYYY, for example 14/07/1984.")


class BirthdateField(Field):
    """A date of birth typed as French people write it (``14/07/1984``, see ``identity.parse_birthdate``),
    and shown back that way."""

    widget = TextInput()

    def process_formdata(self, valuelist) -> None:
        typed = valuelist[0].strip() if valuelist else ""
        self.data = parse_birthdate(typed) if typed else None
        if typed and self.data is None:
            raise ValueError(_l("This date does not exist: check the day and the month.")
                             if birthdate_numbers(typed) else BIRTHDATE_UNREADABLE)

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]  # what was typed, to be corrected
        return self.data.strftime("%d/%m/%Y") if self.data else ""


class BirthdateRequired(InputRequired):
    """A date of birth must be given: spaces alone are none, and an unreadable date keeps its own message."""

    def __call__(self, _form, field) -> None:
        if field.data is None and not field.process_errors:
            raise ValidationError(self.message)


def real_birthdate(_form, field) -> None:
    """No one signing up was born in the future, nor before 1900: such a date is a slip of the keyboard."""
    if field.data and field.data > dt.date.today():
        raise ValidationError(_l("A date of birth cannot be in the future: check the year."))
    if field.data and field.data < EARLIEST_BIRTHDATE:
        raise ValidationError(_l("Enter a date of birth from 1 January 1900 onwards."))


class PersonForm(Form):
    """Who the citizen is, asked the same way by sign-up, the help form and the account page."""

    given_name = StringField(_l("Given name"), validators=[DataRequired(_l("Enter your given name.")), at_most(100)],
                             render_kw={"autocomplete": "given-name"})
    family_name = StringField(_l("Family name"), validators=[DataRequired(_l("Enter your family name.")), at_most(100)],
                              render_kw={"autocomplete": "family-name"})
    birthdate = BirthdateField(_l("Date of birth"),
                               validators=[BirthdateRequired(_l("Enter your date of birth, for example 14/07/1984.")),
                                           real_birthdate],
                               render_kw=BIRTHDATE_INPUT)


class NewPasswordForm(Form):
    """A new password typed twice (reset link, account page); the policy is checked by the view."""

    new_password = PasswordField(_l("New password"),
                                 validators=[DataRequired(_l("Choose a new password.")), at_most(1024)],
                                 render_kw={"autocomplete": "new-password"})
    new_password_confirm = PasswordField(
        _l("New password, again"),
        validators=[DataRequired(_l("Enter the new password again.")),
                    EqualTo("new_password", message=_l("The two passwords differ."))],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField(_l("Change my password"))


class AccountForm(PersonForm):
    """Mes infos personnelles: what relying parties receive as claims."""

    birthdate = BirthdateField(_l("Date of birth"), validators=[Optional(), real_birthdate],
                               render_kw=BIRTHDATE_INPUT)  # accounts made before it was asked may lack it
    email = StringField(_l("E-mail address"), validators=[DataRequired(ENTER_EMAIL), at_most(254), email_address],
                        render_kw={"autocomplete": "email", "type": "email", "autocapitalize": "none"})
    phone_number = StringField(_l("Phone number"), validators=[Optional(), at_most(32), PHONE],
                               render_kw={"autocomplete": "tel", "type": "tel"})
    street_address = StringField(_l("Street address"), validators=[Optional(), at_most(200)],
                                 render_kw={"autocomplete": "street-address"})
    postal_code = StringField(_l("Postal code"), validators=[Optional(), french_postal_code],
                              render_kw={"autocomplete": "postal-code"})
    locality = StringField(_l("Town or city"), validators=[Optional(), at_most(100)],
                           render_kw={"autocomplete": "address-level2"})
    # Checked by the view only when a guarded detail changes (account.GUARDED, the e-mail address).
    current_password = PasswordField(_l("Current password"), validators=[Optional(), at_most(1024)],
                                     render_kw={"autocomplete": "current-password"})
    submit = SubmitField(_l("Save"))


class PasswordChangeForm(NewPasswordForm):
    current_password = PasswordField(_l("Current password"),
                                     validators=[DataRequired(_l("Enter your current password.")), at_most(1024)],
                                     render_kw={"autocomplete": "current-password"})


class ConfirmForm(Form):
    submit = SubmitField(_l("Confirm"))


class ServiceRemovalForm(Form):
    """"Retirer l'accès" on /account/services: one form per service listed."""

    client_id = HiddenField(validators=[DataRequired(), Length(max=64)])


class SessionCloseForm(Form):
    """"Fermer" on /account/sessions: ``session`` is the session's handle, never its id."""

    session = HiddenField(validators=[DataRequired(), Length(max=64)])


class IdentityUnlinkForm(Form):
    """"Délier" on /account/identities: which tie, and the password when the account has one."""

    identity = HiddenField(validators=[DataRequired(), Length(max=12), Regexp(r"[0-9]+")])
    current_password = PasswordField(_l("Current password"), validators=[Optional(), Length(max=1024)],
                                     render_kw={"autocomplete": "current-password"})


class PasskeyForm(Form):
    """"Mes clés d'accès": adding (the password, then the browser's ceremony), renaming, removing
    (``remove`` is the passkey's number, with the password)."""

    current_password = PasswordField(_l("Current password"), validators=[Optional(), Length(max=1024)],
                                     render_kw={"autocomplete": "current-password"})
    passkey = HiddenField(validators=[Optional(), Length(max=12), Regexp(r"^[0-9]*$")])
    remove = HiddenField(validators=[Optional(), Length(max=12), Regexp(r"^[0-9]*$")])
    name = StringField(_l("Name"), validators=[Optional(), Length(max=64)])


class AccountDeletionForm(Form):
    current_password = PasswordField(_l("Current password"),
                                     validators=[DataRequired(_l("Enter your current password to delete your "
                                                                 "account.")), Length(max=1024)],
                                     render_kw={"autocomplete": "current-password"})
    confirm = BooleanField(_l("I understand that my account and my personal details will be deleted for good."),
                           validators=[DataRequired(_l("Tick this box to confirm that you want to delete your "
                                                       "account."))])
