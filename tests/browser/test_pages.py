"""What a person sees and does in the browser, role by role and language by language."""

import re

import pytest

from .support import DEMO, screenshot


def own_row_id(page) -> str:
    return page.locator("tr[data-user-id]").first.get_attribute("data-user-id")


def test_sign_up_lands_on_home_and_sees_only_yourself(people):
    person = people()
    person.sign_up(name="Solo", last_name="Newcomer")
    rows = person.page.locator("tr[data-user-id]")
    assert rows.count() == 1
    assert "Newcomer" in rows.first.inner_text()


@pytest.mark.parametrize("role", ["admin", "manager", "user"])
def test_each_role_sees_the_rows_and_buttons_the_rules_allow(people, role):
    person = people().sign_in(*DEMO[role])
    page = person.page
    page.goto("/home/?per_page=100")
    rows = page.locator("tr[data-user-id]")
    total = rows.count()
    me = page.locator("tr[data-user-id]", has_text=DEMO[role][0])
    assert me.count() == 1
    my_id = me.get_attribute("data-user-id")
    if role == "user":
        assert total == 1
    else:
        assert total >= 3
    for i in range(total):
        row = rows.nth(i)
        mine = row.get_attribute("data-user-id") == my_id
        allowed = role == "admin" or mine
        assert (row.locator('[data-action="edit"]').count() == 1) == allowed
        assert (row.locator('[data-action="delete"]').count() == 1) == allowed
    if role == "admin":
        screenshot(page, "home-admin.png")
    if role == "user":
        screenshot(page, "home-user.png")


def test_inline_edit_saves_without_a_page_load_and_shows_errors_in_place(people):
    victim = people()
    email, _ = victim.sign_up(name="Inline", last_name="Target")
    admin = people().sign_in(*DEMO["admin"])
    page = admin.page
    page.goto("/home/?q=" + email)
    row = page.locator("tr[data-user-id]")
    page.evaluate("window.__stayed = true")
    row.locator('[data-action="edit"]').click()
    row.locator('input[name="name"]').fill("Renamed")
    row.locator('[data-action="save"]').click()
    page.wait_for_selector("tr.saved")
    assert row.locator('td[data-field="name"]').inner_text() == "Renamed"
    assert page.evaluate("window.__stayed") is True  # no navigation happened
    page.reload()
    assert page.locator('tr[data-user-id] td[data-field="name"]').inner_text() == "Renamed"

    row = page.locator("tr[data-user-id]")
    row.locator('[data-action="edit"]').click()
    row.locator('input[name="email"]').fill("not-an-email")
    row.locator('[data-action="save"]').click()
    error = row.locator(".field-error")
    error.wait_for()
    assert "valid email" in error.inner_text()
    assert row.locator('input[name="email"]').get_attribute("aria-invalid") == "true"
    page.reload()
    assert page.locator('td[data-field="email"]').inner_text() == email


def test_delete_with_confirmation_signs_the_deleted_user_out(people):
    victim = people()
    email, _ = victim.sign_up(name="Doomed", last_name="Browser")
    admin = people().sign_in(*DEMO["admin"])
    page = admin.page
    page.goto("/home/?q=" + email)
    asked = []
    page.once("dialog", lambda dialog: asked.append(dialog.message))
    page.locator('[data-action="delete"]').click()
    page.wait_for_url("**/home/")
    assert asked and "Doomed" in asked[0]
    assert page.locator(f"tr[data-user-id]:has-text('{email}')").count() == 0
    victim.page.click("text=Profile")
    victim.page.wait_for_url(re.compile(r".*/login/.*"))


def test_password_change_signs_out_the_other_browser(people):
    first = people()
    email, password = first.sign_up(name="Two", last_name="Browsers")
    second = people().sign_in(email, password)
    page = first.page
    page.goto("/profile/")
    page.fill("#current_password", password)
    page.fill("#new_password", "a changed passphrase")
    page.fill("#new_password_confirm", "a changed passphrase")
    page.click("text=Change password >> nth=-1")
    page.wait_for_url("**/profile/")
    assert "password has been changed" in page.content()
    second.page.goto("/home/")
    assert "/login/" in second.page.url
    first.page.goto("/home/")
    assert first.page.url.endswith("/home/")


def test_a_rule_toggled_by_the_admin_reaches_a_signed_in_manager(people):
    manager = people().sign_in(*DEMO["manager"])
    admin = people().sign_in(*DEMO["admin"])
    rules = admin.page
    rules.goto("/admin/rules/")
    screenshot(rules, "rules.png")
    box = rules.locator('input[name="manager:users:update_all"]')
    assert not box.is_checked()
    try:
        box.check()
        rules.click("text=Save rules")
        rules.wait_for_url("**/admin/rules/")
        assert "update_all on" in rules.content()
        manager.page.reload()
        others = manager.page.locator("tr[data-user-id]:not(:has-text('manager@test.com'))")
        assert others.first.locator('[data-action="edit"]').count() == 1
    finally:
        rules.goto("/admin/rules/")
        rules.locator('input[name="manager:users:update_all"]').uncheck()
        rules.click("text=Save rules")
        rules.wait_for_url("**/admin/rules/")
    manager.page.reload()
    others = manager.page.locator("tr[data-user-id]:not(:has-text('manager@test.com'))")
    assert others.first.locator('[data-action="edit"]').count() == 0


def test_without_javascript_the_edit_page_does_the_job(people):
    person = people(javascript=False)
    person.sign_up(name="NoScript", last_name="Reader")
    page = person.page
    page.locator('[data-action="edit"]').click()
    page.wait_for_url(re.compile(r".*/users/\d+/edit/"))
    page.fill("#name", "StillWorks")
    page.click("text=Save")
    page.wait_for_url("**/home/")
    assert "Saved StillWorks" in page.content()
    assert page.locator('td[data-field="name"]').inner_text() == "StillWorks"


def test_the_login_page(people):
    person = people()
    person.page.goto("/login/")
    screenshot(person.page, "login.png")
    assert person.page.locator("h1").inner_text() == "Sign in"


@pytest.mark.parametrize(
    "locale, signin, users, code",
    [
        ("en-US", "Sign in", "Users", "en"),
        ("ru-RU", "Войти", "Пользователи", "ru"),
        ("uk-UA", "Увійти", "Користувачі", "uk"),
    ],
)
def test_one_flow_in_each_language(people, locale, signin, users, code):
    person = people(locale=locale)
    page = person.page
    page.goto("/login/")
    assert page.locator("html").get_attribute("lang") == code
    assert page.locator("h1").inner_text() == signin
    person.sign_in(*DEMO["manager"])
    assert page.locator("h1").inner_text() == users
    if code == "uk":
        screenshot(page, "home-uk.png")
