"""The users page's rows in a browser: names and labels from the script, actions without it."""

import re

from .support import DEMO


def test_buttons_are_named_for_their_user_and_cells_labelled(people):
    victim = people()
    email, _ = victim.sign_up(name="Labelled", last_name="Person")
    admin = people().sign_in(*DEMO["admin"])
    page = admin.page
    page.goto("/home/?q=" + email)
    row = page.locator("tr[data-user-id]")
    assert row.locator('[data-action="edit"]').get_attribute("aria-label") == (
        "Edit Labelled Person"
    )
    assert row.locator('[data-action="delete"]').get_attribute("aria-label") == (
        "Delete Labelled Person"
    )
    labels = row.locator("td[data-field]").evaluate_all(
        "cells => cells.map(td => td.getAttribute('data-label'))"
    )
    assert labels == ["Last name", "First name", "Patronymic", "Email", "Role"]
    row.locator('[data-action="edit"]').click()
    row.locator('input[name="name"]').fill("Relabelled")
    row.locator('[data-action="save"]').click()
    page.wait_for_selector("tr.saved")
    assert row.locator('[data-action="edit"]').get_attribute("aria-label") == (
        "Edit Relabelled Person"
    )


def test_deleting_your_own_row_warns_that_you_will_be_signed_out(people):
    person = people()
    person.sign_up(name="Self", last_name="Deleter")
    page = person.page
    asked = []
    page.once("dialog", lambda dialog: asked.append(dialog.message))
    page.locator('[data-action="delete"]').click()
    page.wait_for_url(re.compile(r".*/login/"))
    assert asked == ["Delete your own account? You will be signed out."]


def test_without_javascript_delete_and_restore_post_the_shared_form(people):
    victim = people()
    email, _ = victim.sign_up(name="NoScript", last_name="Victim")
    admin = people(javascript=False).sign_in(*DEMO["admin"])
    page = admin.page
    page.goto("/home/?q=" + email)
    page.locator('[data-action="delete"]').click()
    page.wait_for_url("**/home/")
    assert "Deleted NoScript Victim" in page.content()
    assert page.locator(f"tr[data-user-id]:has-text('{email}')").count() == 0
    page.goto("/home/?show=deleted&q=" + email)
    page.locator('[data-action="restore"]').click()
    page.wait_for_url("**/home/?show=deleted")
    assert "Restored NoScript Victim" in page.content()
    page.goto("/home/?q=" + email)
    assert page.locator("tr[data-user-id]").count() == 1


def test_inline_edit_starts_from_the_current_role_and_shows_the_new_one(people):
    victim = people()
    email, _ = victim.sign_up(name="Role", last_name="Changer")
    admin = people().sign_in(*DEMO["admin"])
    page = admin.page
    page.goto("/home/?q=" + email)
    row = page.locator("tr[data-user-id]")
    row.locator('[data-action="edit"]').click()
    role = row.locator('select[name="role"]')
    assert role.input_value() == "user"
    role.select_option("manager")
    row.locator('[data-action="save"]').click()
    page.wait_for_selector("tr.saved")
    badge = row.locator('td[data-field="role"] .badge')
    assert badge.inner_text() == "Manager" and "role-manager" in badge.get_attribute("class")
    page.reload()
    assert page.locator('tr[data-user-id] td[data-field="role"]').inner_text() == "Manager"
