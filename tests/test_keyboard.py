"""A citizen who uses only the keyboard (RGAA 4.1 theme 12), in Debian's Chromium with JavaScript
off: the sign-up and the password reset, from the first page to signed in, with Tab, Shift+Tab,
Enter, Space and typing only (no click, no fill). At each step the test checks which element has
the focus and that the focus can be seen. Mails go through a real SMTP sink on loopback."""

from __future__ import annotations

from urllib.parse import urlparse

from helpers import deliver, link_in, make_user

NEW_PASSWORD = "lanterne verte sous la pluie"
FOCUSED = """() => {
  const element = document.activeElement, style = getComputedStyle(element);
  return {tag: element.tagName.toLowerCase(), id: element.id, text: (element.innerText || "").trim(),
          outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0,
          shadow: style.boxShadow !== "none"};
}"""


def focus(page) -> dict:
    """The element that has the focus, and whether its focus is drawn (outline or shadow)."""
    return page.evaluate(FOCUSED)


def assert_focus_visible(page) -> dict:
    now = focus(page)
    assert now["outline"] or now["shadow"], f"the focus on {now} cannot be seen"
    return now


def tab_to(page, selector: str, key: str = "Tab", within: int = 4) -> None:
    """Press ``key`` until ``selector`` has the focus (at most ``within`` presses: only the elements a
    sighted citizen passes on the way, such as the header's links); each focus stop must be visible."""
    passed = []
    for _ in range(within):
        page.keyboard.press(key)
        passed.append(assert_focus_visible(page))
        if page.evaluate("selector => document.activeElement.matches(selector)", selector):
            return
    raise AssertionError(f"{within} presses of {key} did not reach {selector}; the focus went to {passed}")


def type_in(page, selector: str, text: str) -> None:
    """Type into the focused field, checking it is the one meant."""
    assert page.evaluate("selector => document.activeElement.matches(selector)", selector), focus(page)
    page.keyboard.type(text)


def press_and_wait(page, key: str = "Enter") -> None:
    with page.expect_navigation():
        page.keyboard.press(key)


def mailed_link(app, smtp, path: str) -> str:
    deliver(app)
    [mail] = smtp.wait_for(1)
    smtp.messages.clear()
    return link_in(smtp.text(mail), path)


def sign_in_with_the_keyboard(page, password: str) -> None:
    """The login page after a journey: the identifier is filled in, the password field has the focus."""
    assert page.locator("h1").inner_text() == "Se connecter"
    type_in(page, "#password", password)
    tab_to(page, "#shared_computer", within=1)
    page.keyboard.press("Space")
    assert page.is_checked("#shared_computer")
    page.keyboard.press("Space")  # it is not: the box is unticked again the same way
    assert not page.is_checked("#shared_computer")
    tab_to(page, "button[type=submit]", within=1)
    press_and_wait(page, "Space")
    # The first sign-in after a sign-up or a reset offers a passkey; "not now" is reached with Tab too.
    assert page.locator("h1").inner_text() == "La prochaine fois, rien à retenir"
    tab_to(page, "a[data-passkey-later]", within=4)
    press_and_wait(page)
    assert urlparse(page.url).path == "/"
    assert page.locator("main form[action='/logout']").count() == 1  # signed in


def test_a_newcomer_signs_up_with_the_keyboard_only(browser, live_with_mail, smtp):
    app, idp, _rp = live_with_mail
    page = browser
    page.goto(f"{idp}/signup")
    assert page.locator("h1").inner_text() == "Créez votre compte Sésame"
    typed = {"#given_name": "Claire", "#family_name": "Le Goff", "#birthdate": "03/11/1988",
             "#email": "claire.legoff@example.fr", "#username": "claire.legoff", "#password": NEW_PASSWORD,
             "#password_confirm": NEW_PASSWORD}
    for selector, text in typed.items():
        tab_to(page, selector, within=4 if selector == "#given_name" else 2)
        type_in(page, selector, text)
    tab_to(page, "#password", key="Shift+Tab", within=2)  # back up a field: nothing typed is lost
    assert page.input_value("#password") == NEW_PASSWORD
    tab_to(page, "#password_confirm", within=2)
    press_and_wait(page)  # Enter in a field sends its form

    assert page.locator("h1").inner_text() == "Consultez votre messagerie"
    page.goto(idp + mailed_link(app, smtp, "/signup/verify/"))  # opened from the mail program
    assert page.locator("h1").inner_text() == "Confirmez votre adresse électronique"
    tab_to(page, "#password", within=4)
    type_in(page, "#password", NEW_PASSWORD)
    press_and_wait(page)

    assert page.locator("[role=status]").inner_text() == \
        "Votre adresse électronique est confirmée. Connectez-vous pour continuer."
    assert page.input_value("#username") == "claire.legoff"
    sign_in_with_the_keyboard(page, NEW_PASSWORD)


def test_a_citizen_resets_a_forgotten_password_with_the_keyboard_only(browser, live_with_mail, smtp, db):
    app, idp, _rp = live_with_mail
    make_user(db)
    page = browser
    page.goto(f"{idp}/login")
    assert focus(page)["id"] == "username"  # the page opens on its first field
    tab_to(page, "a[href^='/recovery/password']", within=6)
    assert focus(page)["text"] == "Mot de passe oublié\u00a0?"
    press_and_wait(page)  # Enter follows a link

    assert page.locator("h1").inner_text() == "Mot de passe oublié\u00a0?"
    assert_focus_visible(page)
    type_in(page, "#login", "jean.dupont")
    press_and_wait(page)
    assert page.locator("h1").inner_text() == "Consultez votre messagerie"

    page.goto(idp + mailed_link(app, smtp, "/recovery/reset/"))
    assert page.locator("h1").inner_text() == "Choisissez un nouveau mot de passe"
    type_in(page, "#new_password", NEW_PASSWORD)
    tab_to(page, "#new_password_confirm", within=2)
    type_in(page, "#new_password_confirm", NEW_PASSWORD)
    press_and_wait(page)

    assert page.locator("[role=status]").inner_text() == \
        "Votre mot de passe a été changé. Connectez-vous avec votre nouveau mot de passe."
    assert page.input_value("#username") == "jean.dupont"
    sign_in_with_the_keyboard(page, NEW_PASSWORD)


def test_the_focus_check_fails_on_a_page_that_hides_the_focus(browser, live_with_mail):
    _app, idp, _rp = live_with_mail
    browser.goto(f"{idp}/login")
    browser.evaluate("""() => document.head.insertAdjacentHTML("beforeend",
        "<style>:focus, :focus-visible { outline: none !important; box-shadow: none !important }</style>")""")
    try:
        tab_to(browser, "#password", within=1)
    except AssertionError as failure:
        assert "cannot be seen" in str(failure) and "'id': 'password'" in str(failure)
    else:
        raise AssertionError("a focus drawn with nothing passed for visible")
