"""The console signed in with a key or a single sign-on token, in a real Chromium: it says who is signed
in and with which role; a viewer sees no delete, revoke or edit controls (and the API refuses them
anyway), an operator sees recording and sync but nothing of an admin's, an admin sees them all, and
the audit page shows what happened."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.console.conftest import needs_chromium
from videorec_testing.accounts import cli_user_add
from videorec_testing.oidc import AUDIENCE, Issuer, rsa_issuer
from videorec_testing.stack import Stack, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("console"), needs_chromium]
BOOTSTRAP = "console-roles-bootstrap-t0ken"


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with rsa_issuer() as made:
        yield made


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, issuer: Issuer) -> Iterator[tuple[Stack, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("console-roles")
    sso = {"VIDEOREC_OIDC_ISSUER": issuer.url, "VIDEOREC_OIDC_AUDIENCE": AUDIENCE}
    with start_stack(tmp, api_token=BOOTSTRAP, cp_env=sso) as running:
        keys = {
            name: cli_user_add(tmp / "cp-data", name, role)
            for name, role in (("vera", "viewer"), ("adam", "admin"))
        }
        with running.cp.client() as c:
            source = c.post(
                "/api/v1/source", json={"uri_rtsp": "rtsp://127.0.0.1:9/x", "description": "gate"}
            )
            group = c.post("/api/v1/group", json={"name": "north"})
            assert source.status_code == 201 and group.status_code == 201
        yield running, keys


def sign_in(browser, stack: Stack, key: str, who: str):
    page = browser.new_page()
    page.goto(stack.cp.url + "/#/sources")
    page.locator("#token-dialog").wait_for(state="visible")
    page.locator("#token-form input[name=token]").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.locator("#whoami", has_text=who).wait_for()
    page.get_by_text("gate").first.wait_for()
    return page


def visible(page, selector: str) -> bool:
    return page.locator(selector).first.is_visible()


def test_a_viewer_sees_no_delete_or_revoke_and_the_api_refuses_them(browser, stack) -> None:
    running, keys = stack
    page = sign_in(browser, running, keys["vera"], "vera · viewer")
    try:
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        # Sources: snapshot and live yes; edit, delete and the form no.
        assert page.get_by_role("button", name="Snapshot").first.is_visible()
        assert page.get_by_role("button", name="Live").first.is_visible()
        for name in ("Delete", "Edit"):
            button = page.get_by_role("button", name=name, exact=True)
            assert button.count() == 0 or (not button.first.is_visible() and button.first.is_disabled())
        assert not visible(page, "#source-form")
        # Overview: the agent is listed, without a Revoke button.
        page.goto(running.cp.url + "/#/")
        page.get_by_text(running.agent.name).first.wait_for()
        assert page.locator("button.revoke").count() == 1  # drawn, then hidden and disabled
        assert not page.locator("button.revoke").is_visible() and page.locator("button.revoke").is_disabled()
        # A group: no Delete group, no members' form; the live wall yes.
        page.goto(running.cp.url + "/#/groups/1")
        page.get_by_role("button", name="Live wall").wait_for()
        assert not page.get_by_role("button", name="Delete group").is_visible()
        assert not visible(page, "#record-form")
        assert not page.get_by_role("link", name="Audit").is_visible()
        # The API refuses what the console hides.
        status = page.evaluate(
            "async (key) => (await fetch('/api/v1/source/1', "
            "{method: 'DELETE', headers: {Authorization: 'Bearer ' + key}})).status",
            keys["vera"],
        )
        assert status == 403
        assert errors == []
    finally:
        page.close()


def test_an_admin_sees_them_and_the_audit_trail(browser, stack) -> None:
    running, keys = stack
    page = sign_in(browser, running, keys["adam"], "adam · admin")
    try:
        assert page.get_by_role("button", name="Delete", exact=True).first.is_enabled()
        assert page.get_by_role("button", name="Delete", exact=True).first.is_visible()
        assert visible(page, "#source-form")
        page.goto(running.cp.url + "/#/")
        page.locator("button.revoke").wait_for()
        assert page.locator("button.revoke").is_enabled()
        page.goto(running.cp.url + "/#/groups/1")
        page.get_by_role("button", name="Delete group").wait_for()
        page.get_by_role("link", name="Audit").click()
        page.locator("#audit-table").wait_for()
        rows = page.locator("#audit-table tbody tr")
        assert rows.count() >= 2  # the setup's create_source and create_group at least
        page.locator("#audit-form input[name=action]").fill("create_group")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_function("() => document.querySelectorAll('#audit-table tbody tr').length === 1")
        assert "api-token" in page.locator("#audit-table tbody tr").inner_text()
    finally:
        page.close()


def test_an_operator_signed_in_by_sso_records_and_syncs_and_sees_nothing_of_an_admins(
    browser, stack, issuer: Issuer
) -> None:
    running, _ = stack
    token = issuer.token(preferred_username="olga", roles=["operator"])
    page = sign_in(browser, running, token, "olga · operator")
    try:
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        assert page.locator("#whoami").get_attribute("title") == "signed in with single sign-on"
        # Sources: watch yes; edit, delete and the form no.
        assert page.get_by_role("button", name="Live").first.is_visible()
        for name in ("Delete", "Edit"):
            button = page.locator(f"button:text-is('{name}')")  # drawn, then hidden and disabled
            assert button.count() >= 1 and not button.first.is_visible() and button.first.is_disabled()
        assert not visible(page, "#source-form")
        # A group: recording yes; deleting it or changing its members no.
        page.goto(running.cp.url + "/#/groups/1")
        page.locator("#record-form").wait_for()
        assert page.locator("#record-form button[type=submit]").is_enabled()
        assert not page.get_by_role("button", name="Delete group").is_visible()
        assert not visible(page, "#member-form")
        # Sync: the form is there. No Revoke, no Audit.
        page.goto(running.cp.url + "/#/sync")
        page.locator("#sync-form").wait_for()
        page.goto(running.cp.url + "/#/")
        page.get_by_text(running.agent.name).first.wait_for()
        assert not page.locator("button.revoke").is_visible() and page.locator("button.revoke").is_disabled()
        assert not page.get_by_role("link", name="Audit").is_visible()
        # The API refuses what the console hides, naming the permission.
        answer = page.evaluate(
            "async (t) => { const r = await fetch('/api/v1/source/1', "
            "{method: 'DELETE', headers: {Authorization: 'Bearer ' + t}}); return [r.status, await r.text()]; }",
            token,
        )
        assert answer[0] == 403 and "manage_sources" in answer[1] and "operator" in answer[1]
        assert errors == []
    finally:
        page.close()
