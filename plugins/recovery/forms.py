"""The recovery plugin's forms; Flask-WTF adds and checks the CSRF token of each."""

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, PasswordField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp, StopValidation

from idp.forms import PHONE, Form, NewPasswordForm, PersonForm, email_address, french_postal_code

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


class ResetForm(NewPasswordForm):
    """The form behind a reset link."""


class SignupForm(PersonForm):
    email = StringField(_l("E-mail address"), validators=[DataRequired(), Length(max=254), email_address],
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
    # "1" when the citizen answered the red hint with "Ce n'est pas moi": sent by that button, then kept
    # in the form while it is corrected.
    not_me = HiddenField()
    submit = SubmitField(_l("Create my account"))

    @property
    def not_the_same_person(self) -> bool:
        return self.not_me.data == "1"


class SignupPasswordForm(Form):
    """Confirming a sign-up: the password chosen then (the mailbox's owner may not be who chose it)."""

    password = PasswordField(_l("The password you chose when you signed up"),
                             validators=[DataRequired(), Length(max=1024)],
                             render_kw={"autocomplete": "current-password"})
    submit = SubmitField(_l("Confirm my address"))


class SignupNewPasswordForm(NewPasswordForm):
    """Confirming a sign-up someone else may have made: a password of the mailbox owner's own."""

    submit = SubmitField(_l("Choose this password and confirm my address"))


ADDRESS_PARTS = ("street_address", "postal_code", "locality")


class PartOfAddress:
    """An address is for a letter: optional, but once one part is typed, the others are needed too."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __call__(self, form, field) -> None:
        if (field.data or "").strip():
            return
        if any((form[name].data or "").strip() for name in ADDRESS_PARTS):
            raise StopValidation(self.message)


class HelpRequestForm(PersonForm):
    username = StringField(_l("Identifier, if you remember it"), validators=[Optional(), Length(max=64)],
                           render_kw={"autocomplete": "username", "autocapitalize": "none"})
    new_email = StringField(_l("New e-mail address"), validators=[DataRequired(), Length(max=254), email_address],
                            render_kw={"autocomplete": "email", "type": "email", "autocapitalize": "none"})
    # Optional, since the help desk may check who the citizen is by a call or a letter.
    phone_number = StringField(_l("Phone number (optional)"), validators=[Optional(), Length(max=32), PHONE],
                               render_kw={"autocomplete": "tel", "type": "tel"})
    street_address = StringField(
        _l("Number and street (optional)"),
        validators=[PartOfAddress(_l("Enter the number and street too, so that a letter can reach you.")),
                    Optional(), Length(max=200)],
        render_kw={"autocomplete": "street-address"})
    postal_code = StringField(
        _l("Postal code (optional)"),
        validators=[PartOfAddress(_l("Enter the postal code too, so that a letter can reach you.")),
                    Optional(), french_postal_code],
        render_kw={"autocomplete": "postal-code", "inputmode": "numeric"})
    locality = StringField(
        _l("Town or city (optional)"),
        validators=[PartOfAddress(_l("Enter the town too, so that a letter can reach you.")),
                    Optional(), Length(max=100)],
        render_kw={"autocomplete": "address-level2"})
    message = TextAreaField(_l("Message for the help desk"), validators=[Optional(), Length(max=2000)])
    rid = HiddenField(validators=RID)
    submit = SubmitField(_l("Send my request"))
