"""The demo map at /map, in headless Chromium (Debian's, driven by Playwright) against the
app under granian: it draws the basemap and the providers with their clusters' counts,
pans and zooms, shows a provider's profile, lists a nearby search by distance, finds who
is free near a point and books one of its slots, without a console error or a failed
request, and draws a provider's route on the roads along its streets. Screenshots land in
tests/artifacts/."""

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    Response,
    ViewportSize,
    async_playwright,
)
from playwright.async_api import (
    TimeoutError as PlaywrightTimeoutError,
)

from app import demo
from tests.support.accounts import PASSWORD, sign_up
from tests.support.bookings import open_provider

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
SCREEN: ViewportSize = {"width": 1280, "height": 800}
STOCKHOLM = [18.0687, 59.3294]
# Near Mo i Rana, where no other test's provider is open.
FREE_SPOT = {"latitude": 66.31, "longitude": 14.14}
HELSINKI = demo.HELSINKI.location
# Software WebGL: the machines that run the suite have no GPU.
CHROMIUM_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"]


def _chromium() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium")
    assert path, "Chromium is not installed: make test installs Debian's chromium package"
    return path


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


class Troubles:
    """Everything the page got wrong: console errors, uncaught exceptions, failed requests."""

    def __init__(self, page: Page) -> None:
        self.seen: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.seen.append(f"uncaught: {error}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.seen.append(f"console: {message.text}")

    def _failed(self, request: Request) -> None:
        self.seen.append(f"failed: {request.url} {request.failure}")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.seen.append(f"{response.status}: {response.url}")


async def _until(page: Page, expression: str, timeout_s: float = 30.0) -> Any:
    """The value of `expression` in the page once it is true. Polled from here: the page's
    Content-Security-Policy forbids the eval that Playwright's own waiting uses."""
    deadline = time.monotonic() + timeout_s
    while not (value := await page.evaluate(f"() => {expression}")):
        assert time.monotonic() < deadline, f"still false after {timeout_s} s: {expression}"
        await asyncio.sleep(0.1)
    return value


async def _settled(page: Page, expression: str) -> Any:
    """`expression`'s value once the map stopped moving, loaded its tiles, and it holds."""
    settled = "!equinetMap.isMoving() && equinetMap.areTilesLoaded()"
    await _until(page, f"{settled} && ({expression})")
    return await page.evaluate(f"() => {expression}")


async def _screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / f"{name}.png")


async def _point_of_first(page: Page, layer: str) -> dict[str, Any]:
    """Where on the page the first drawn feature of `layer` is, and its id."""
    point: dict[str, Any] = await page.evaluate(
        """(layer) => {
            const [feature] = equinetMap.queryRenderedFeatures({ layers: [layer] });
            const at = equinetMap.project(feature.geometry.coordinates);
            const canvas = equinetMap.getCanvas().getBoundingClientRect();
            return { x: canvas.left + at.x, y: canvas.top + at.y, id: feature.id };
        }""",
        layer,
    )
    return point


async def _open_profile(page: Page, tries: int = 3) -> dict[str, Any]:
    """Click the first provider drawn until its profile opens: on a busy machine the map
    can still be drawing the tile the click lands on (a click in between finds nothing)."""
    for attempt in range(1, tries + 1):
        await _settled(page, "true")
        provider = await _point_of_first(page, "providers")
        await page.mouse.click(provider["x"], provider["y"])
        try:
            await page.locator(".maplibregl-popup h3").wait_for(timeout=5_000)
        except PlaywrightTimeoutError:
            if attempt == tries:
                raise
        else:
            return provider
    raise AssertionError("unreachable")


async def _empty_spot(page: Page) -> dict[str, float]:
    """A point of the map with no provider or cluster on it (a click there searches)."""
    spot: dict[str, float] = await page.evaluate(
        """() => {
            const canvas = equinetMap.getCanvas().getBoundingClientRect();
            for (let y = canvas.height / 2; y < canvas.height - 20; y += 17) {
                for (let x = canvas.width / 2; x < canvas.width - 20; x += 17) {
                    const layers = ["clusters", "providers"];
                    if (equinetMap.queryRenderedFeatures([x, y], { layers }).length === 0) {
                        const at = equinetMap.unproject([x, y]);
                        return { x: canvas.left + x, y: canvas.top + y, lat: at.lat, lng: at.lng };
                    }
                }
            }
            throw new Error("no empty spot");
        }"""
    )
    return spot


async def test_the_map_page_shows_providers_profiles_and_a_nearby_search(
    browser: Browser, server_url: str
) -> None:
    page = await browser.new_page(viewport=SCREEN)
    troubles = Troubles(page)
    await page.goto(f"{server_url}/map")
    drawn = (
        "document.body.dataset.basemap === 'drawn' && document.body.dataset.providers === 'drawn'"
    )
    await _until(page, drawn)
    assert (
        await _settled(page, "equinetMap.queryRenderedFeatures({layers: ['clusters']}).length") > 0
    )
    await _screenshot(page, "map-clusters")

    # Pan by dragging, then zoom in on Stockholm, where providers are drawn one by one.
    await page.mouse.move(800, 400)
    await page.mouse.down()
    await page.mouse.move(700, 450, steps=5)
    await page.mouse.up()
    await page.mouse.wheel(0, -300)
    await page.evaluate(f"() => equinetMap.jumpTo({{ center: {STOCKHOLM}, zoom: 13.5 }})")
    one_by_one = "equinetMap.queryRenderedFeatures({layers: ['providers']}).length"
    assert await _settled(page, one_by_one) > 0

    # A provider's profile, as the API has it.
    provider = await _open_profile(page)
    popup = page.locator(".maplibregl-popup h3")
    async with httpx.AsyncClient(base_url=server_url) as api:
        profile = (await api.get(f"/api/providers/{provider['id']}")).json()
    assert await popup.text_content() == profile["business_name"]
    await _screenshot(page, "map-profile")
    await page.keyboard.press("Escape")
    await page.locator(".maplibregl-popup-close-button").click()

    # Nearby: the nearest providers by distance, and each strategy offered timed.
    await page.check("#nearby-mode")
    await page.select_option("#radius", "5")
    spot = await _empty_spot(page)
    await page.mouse.click(spot["x"], spot["y"])
    await page.locator("#nearby-list li").first.wait_for(timeout=10_000)
    distances = [
        float(text.removesuffix(" km"))
        for text in await page.locator("#nearby-list .distance").all_text_contents()
    ]
    assert distances == sorted(distances)
    assert len(distances) == 20
    strategies = await page.locator("#timings tbody td:first-child").all_text_contents()
    assert strategies == ["gist", "bbox", "naive"]  # the suite offers all three
    assert set(await page.locator("#timings tbody td:last-child").all_text_contents()) == {"yes"}
    await _settled(page, "true")
    await _screenshot(page, "map-nearby")

    assert troubles.seen == []


async def _cluster_counts(page: Page) -> tuple[list[int], list[int]]:
    """The counts the page labels its clusters with, and those of the clusters drawn."""
    labels = [int(text) for text in await page.locator(".cluster-count").all_text_contents()]
    drawn: list[int] = await page.evaluate(
        """() => {
            const keys = new Map();
            for (const c of equinetMap.queryRenderedFeatures({ layers: ['clusters'] })) {
                const [lng, lat] = c.geometry.coordinates;
                const count = c.properties.count;
                keys.set(`${lng.toFixed(5)},${lat.toFixed(5)},${count}`, count);
            }
            return [...keys.values()];
        }"""
    )
    return sorted(labels), sorted(drawn)


async def test_the_map_page_finds_who_is_free_near_a_point_and_books_a_slot(
    browser: Browser, server_url: str
) -> None:
    async with httpx.AsyncClient(base_url=server_url) as api:
        provider = await open_provider(api, duration_minutes=60)
        moved = await api.patch(
            f"/api/providers/{provider.id}", json=FREE_SPOT, headers=provider.owner.headers
        )
        assert moved.status_code == 200, moved.text
        customer = await sign_up(api, "customer")
    page = await browser.new_page(viewport=SCREEN)
    troubles = Troubles(page)
    await page.goto(f"{server_url}/map")
    await _until(page, "document.body.dataset.providers === 'drawn'")

    # Zoomed out, every cluster drawn carries its count.
    await _settled(page, "document.querySelectorAll('.cluster-count').length > 0")
    labels, drawn = await _cluster_counts(page)
    assert labels == drawn
    assert sum(labels) > 0

    # Free between tomorrow and a week on, around a point beside the provider.
    center = [FREE_SPOT["longitude"], FREE_SPOT["latitude"]]
    await page.evaluate(f"() => equinetMap.jumpTo({{ center: {center}, zoom: 11 }})")
    await page.check("#free-mode")
    spot = await _empty_spot(page)
    await page.mouse.click(spot["x"], spot["y"])
    entry = page.locator("#free-list li", has_text="Bokbar")
    await entry.first.wait_for(timeout=10_000)
    first_free = await entry.first.locator(".first-free").text_content()
    assert first_free is not None
    assert first_free.startswith("free ")

    # Its popup lists its slots; signed in as a customer, a click books one.
    await entry.first.locator("button").click()
    slot = page.locator(".maplibregl-popup .slots button").first
    await slot.wait_for(timeout=10_000)
    start = await slot.get_attribute("data-start")
    await page.fill("#book-email", customer.email)
    await page.fill("#book-password", PASSWORD)
    await page.click("#book-login button")
    await _until(page, "document.getElementById('book-note').textContent.startsWith('Signed in')")
    await slot.click()
    await _until(page, "document.getElementById('book-note').textContent.startsWith('Booked')")
    await _screenshot(page, "map-free")
    async with httpx.AsyncClient(base_url=server_url) as api:
        mine = (await api.get("/api/bookings", headers=customer.headers)).json()["items"]
    [booking] = mine
    assert booking["provider_id"] == provider.id
    assert start is not None
    assert datetime.fromisoformat(booking["start"]) == datetime.fromisoformat(start)
    assert (booking["latitude"], booking["longitude"]) == (
        round(spot["lat"], 5),
        round(spot["lng"], 5),
    )
    assert troubles.seen == []


async def test_the_map_page_draws_a_route_on_the_roads_along_its_streets(
    browser: Browser, server_url: str
) -> None:
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    async with httpx.AsyncClient(base_url=server_url) as api:
        provider = await open_provider(api, spot=HELSINKI)
        customer = await sign_up(api, "customer")
        order_ids = []
        for latitude, longitude in demo.HELSINKI_STABLES[:4]:
            order = {"category": "farrier", "latitude": latitude, "longitude": longitude}
            order |= {"earliest": tomorrow, "latest": tomorrow}
            made = await api.post("/api/route-orders", json=order, headers=customer.headers)
            assert made.status_code == 201, made.text
            order_ids.append(made.json()["id"])
        body = {"provider_id": provider.id, "date": tomorrow, "route_order_ids": order_ids}
        route = await api.post("/api/routes", json=body, headers=provider.owner.headers)
        assert route.status_code == 201, route.text
    page = await browser.new_page(viewport=SCREEN)
    troubles = Troubles(page)
    await page.goto(f"{server_url}/map")
    await _until(page, "document.body.dataset.providers === 'drawn'")
    await page.fill("#route-email", provider.owner.email)
    await page.fill("#route-password", PASSWORD)
    await page.click("#route-login button")
    pick = page.locator("#route-list button", has_text="by road")
    await pick.wait_for(timeout=10_000)
    await _settled(page, "true")  # no tile under way for the jump to the route to abort
    await pick.click()
    features = "equinetMap.getSource('route').serialize().data.features"
    line = f"{features}.find((f) => f.geometry.type === 'LineString')"
    positions = await _until(page, f"({line} || {{}}).geometry?.coordinates.length")
    assert positions > 2 * (len(order_ids) + 2)  # it turns with the streets
    # The map closes in on the route, street level (it is about a kilometre across).
    await _settled(page, "equinetMap.getZoom() > 14")
    drawn = "equinetMap.queryRenderedFeatures({ layers: ['route-line'] }).length"
    assert await _settled(page, drawn) > 0
    await _screenshot(page, "map-route-roads")
    assert troubles.seen == []
