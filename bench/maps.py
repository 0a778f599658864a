"""The live map at city scale: what a point costs on the wire, how soon headless Chromium draws
the layer, and a refresh of ours against what a Dash user would write instead.

- bytes per point: ``citymap.incident_rows`` (compact rows) against the GeoJSON a plain
  dash-leaflet layer would be sent for the same incidents;
- drawn: the map page (``/``) loaded in headless Chromium until the incident layer's clusters are
  on screen, against the same load until the division names (drawn from the layout, no live
  data) are — the page's own cost, in the same load;
- refresh: ours (change counters, then the rows written since the last look, after ten incidents
  changed) against reading every incident with ``pandas.read_sql`` and building the full GeoJSON.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pandas as pd
from sqlalchemy import Engine, select, update

from ioc.city.pack import CityPack
from ioc.read import citymap
from ioc.records import OPEN_STATUSES
from ioc.store import models

SOURCES = ["history", "bench", "police_110"]
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def origin(pack: CityPack) -> tuple[float, float]:
    return (pack.manifest.bbox[0], pack.manifest.bbox[1])


def compact_layer(engine: Engine, pack: CityPack) -> bytes:
    return orjson.dumps(citymap.incident_rows(engine, origin(pack), SOURCES)["rows"])


def geojson_layer(engine: Engine) -> bytes:
    """The same open incidents as the GeoJSON a dash-leaflet layer takes without our compact rows."""
    i = models.Incident
    with engine.connect() as conn:
        rows = conn.execute(select(i.id, i.lon, i.lat, i.priority, i.category, i.source, i.report_count)
                            .where(i.status.in_(OPEN_STATUSES), i.parent_id.is_(None), i.lon.is_not(None))).all()
    return orjson.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
         "properties": {"id": ident, "priority": prio, "category": cat, "source": src, "reports": n}}
        for ident, lon, lat, prio, cat, src, n in rows]})


# --- a refresh: ours against the Dash user's -----------------------------------------------------


def touch(engine: Engine, n: int = 10) -> datetime:
    """Change ``n`` open incidents (as a feed or a duty officer would); returns the time before."""
    before = datetime.now(timezone.utc) - timedelta(milliseconds=1)
    i = models.Incident
    with engine.begin() as conn:
        ids = [r[0] for r in conn.execute(select(i.id).where(i.status == "new").order_by(i.id.desc()).limit(n))]
        conn.execute(update(i).where(i.id.in_(ids)).values(status="acknowledged", updated_at=datetime.now(timezone.utc),
                                                          version=i.version + 1))
    return before


def our_refresh(engine: Engine, pack: CityPack, since: datetime) -> bytes:
    """What the live map's refresh does when incidents changed (layouts/map_page.refresh_live)."""
    versions = citymap.live_versions(engine)
    delta = citymap.incident_rows(engine, origin(pack), SOURCES, since=since)
    return orjson.dumps({"v": versions, **delta})


def dash_refresh(engine: Engine) -> bytes:
    """Every refresh: all incidents through pandas, the whole GeoJSON rebuilt and sent."""
    df = pd.read_sql("SELECT * FROM incident", engine)
    df = df[df["lon"].notna()]
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
                 "properties": {"id": ident, "title": title, "category": cat, "priority": prio, "status": status}}
                for ident, lon, lat, title, cat, prio, status in
                zip(df["id"], df["lon"], df["lat"], df["title"], df["category"], df["priority"], df["status"],
                    strict=True)]
    return orjson.dumps({"type": "FeatureCollection", "features": features}, option=orjson.OPT_SERIALIZE_NUMPY)


# --- drawn in headless Chromium ---------------------------------------------------------------------

# Runs before the page's own scripts: note when the division names and when the incident
# clusters (or markers) first appear, in the page's clock (0 = navigation start).
WATCH = """
window.__ioc = {};
(function look() {
  const t = performance.now();
  if (!window.__ioc.frame && document.querySelector('.division-label')) window.__ioc.frame = t;
  if (!window.__ioc.layer && document.querySelector('.incident-cluster, .leaflet-marker-pane .pulse'))
    window.__ioc.layer = t;
  if (!window.__ioc.layer) requestAnimationFrame(look);
})();
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The app on a loopback port in a thread (werkzeug, threaded), for the browser measure."""

    def __init__(self, url: str) -> None:
        from werkzeug.serving import make_server

        from app import create_app
        from ioc.config import Settings

        settings = Settings()
        settings.store.url = url
        settings.demo.enabled = False
        settings.web.public_read = True
        settings.web.secret_key = "bench-secret"
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        self.port = free_port()
        self.http = make_server("127.0.0.1", self.port, create_app(settings).server, threaded=True)
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.http.shutdown()


def browser():  # noqa: ANN201 - a selenium driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1600,1000"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH})
    return driver


def draw_times(driver, url: str, timeout: float = 60.0) -> tuple[float, float]:  # noqa: ANN001 - a driver
    """(ms until the incident layer is drawn, ms until the division names are), one page load."""
    driver.get("about:blank")
    driver.get(url)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        seen = driver.execute_script("return window.__ioc || {}")
        if seen.get("layer") and seen.get("frame"):
            return float(seen["layer"]), float(seen["frame"])
        time.sleep(0.05)
    raise TimeoutError(f"the incident layer was not drawn within {timeout:.0f} s at {url} (seen: {seen})")
