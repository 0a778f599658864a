"""What the page tests share: a small signed-in city app and signing in through /login."""

from __future__ import annotations

from selenium.webdriver.common.by import By

from ioc.chain.accounts import add_user
from ioc.config import Settings
from ioc.runtime import Runtime
from ioc.store.db import make_engine
from ioc.store.migrate import upgrade
from ioc.store.packload import load_pack_into_store
from tests.factories import make_small_pack

USERS = {  # name: (role, org)
    "hand1": ("handler", "OFF-T01"),
    "hand2": ("handler", "OFF-T02"),
    "zhang": ("duty_officer", None),
    "admin1": ("admin", None),
    "chen": ("leader", None),
}
PASSWORD = "pass-word-1"


def small_city(tmp_path, monkeypatch, feeds=()):
    """(runtime, build) on the four-division test pack with one account per role; build() makes the app."""
    engine = make_engine(f"sqlite:///{tmp_path / 'ioc.db'}")
    upgrade(engine)
    pack = make_small_pack(tmp_path)
    load_pack_into_store(engine, pack)
    for name, (role, org) in USERS.items():
        add_user(engine, name, role, PASSWORD, org_code=org)
    settings = Settings()
    settings.demo.enabled = False
    settings.web.public_read = False
    settings.web.secret_key = "test-secret"
    runtime = Runtime(settings, engine, pack, secret_key="test-secret", feeds=tuple(feeds))
    monkeypatch.setattr("app.open_city", lambda _settings: runtime)

    def build():
        from app import create_app

        return create_app(settings)
    return runtime, build


def sign_in(dash_duo, username: str, path: str, lang: str = "zh-CN") -> None:
    """Sign in through the form, land on ``path`` in ``lang`` (kept by the page's language store)."""
    driver = dash_duo.driver
    driver.get(f"{dash_duo.server_url}/login")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    dash_duo.wait_for_element("#lang-switch")
    driver.execute_script("window.localStorage.setItem('lang', JSON.stringify(arguments[0]));", lang)
    driver.get(f"{dash_duo.server_url}{path}")
    dash_duo.wait_for_element("#lang-switch")


def start(dash_duo, app) -> None:
    """Serve ``app`` on a free port; the first page a visitor gets is the sign-in form, not Dash."""
    from tests.conftest import free_port

    dash_duo.start_server(app, navigate=False, port=free_port())
    dash_duo._url = dash_duo.server.url  # the setter would wait for a Dash page on /login
