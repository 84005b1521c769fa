// The demo map: an offline basemap, the API's vector tiles with their clusters' counts,
// profiles, geocoding, nearby search timed under each strategy, who is free near a point
// and when (booking a slot), and a provider's routes. A plain module, no build step:
// MapLibre's own module starts its worker from the file beside it.
import * as maplibregl from "./vendor/maplibre-gl/dist/maplibre-gl.mjs";

(() => {
  const config = JSON.parse(document.body.dataset.config);
  const EMPTY = { type: "FeatureCollection", features: [] };
  const $ = (id) => document.getElementById(id);

  const map = new maplibregl.Map({
    container: "map",
    center: [15, 62],
    zoom: 3.6,
    style: {
      version: 8,
      sources: {
        countries: { type: "geojson", data: EMPTY, attribution: "Natural Earth" },
        providers: { type: "vector", url: `${location.origin}/api/tiles/providers.json` },
        area: { type: "geojson", data: EMPTY },
        nearby: { type: "geojson", data: EMPTY },
        free: { type: "geojson", data: EMPTY },
        route: { type: "geojson", data: EMPTY },
        along: { type: "geojson", data: EMPTY },
      },
      layers: [
        { id: "sea", type: "background", paint: { "background-color": "#cfe1ec" } },
        { id: "land", type: "fill", source: "countries", paint: { "fill-color": "#f3f0e6" } },
        {
          id: "borders", type: "line", source: "countries",
          paint: { "line-color": "#a3a092", "line-width": 0.7 },
        },
        {
          id: "clusters", type: "circle", source: "providers", "source-layer": "clusters",
          paint: {
            "circle-color": "#b5532f", "circle-opacity": 0.75,
            "circle-radius": ["interpolate", ["linear"], ["sqrt", ["get", "count"]], 1, 4, 100, 28],
            "circle-stroke-color": "#fff", "circle-stroke-width": 1,
          },
        },
        {
          id: "providers", type: "circle", source: "providers", "source-layer": "providers",
          paint: {
            "circle-color": "#2f6fb5", "circle-radius": 5,
            "circle-stroke-color": "#fff", "circle-stroke-width": 1.5,
          },
        },
        {
          id: "area", type: "fill", source: "area",
          paint: { "fill-color": "#e0a100", "fill-opacity": 0.08 },
        },
        {
          id: "area-edge", type: "line", source: "area",
          paint: { "line-color": "#e0a100", "line-width": 1.5 },
        },
        {
          id: "nearby", type: "circle", source: "nearby",
          paint: { "circle-color": "#e0a100", "circle-radius": 6, "circle-stroke-color": "#fff", "circle-stroke-width": 1.5 },
        },
        {
          id: "free", type: "circle", source: "free",
          paint: { "circle-color": "#2e7d32", "circle-radius": 6, "circle-stroke-color": "#fff", "circle-stroke-width": 1.5 },
        },
        {
          id: "route-line", type: "line", source: "route", filter: ["==", ["get", "kind"], "line"],
          paint: { "line-color": "#6a3fa0", "line-width": 3 },
        },
        {
          id: "route-stops", type: "circle", source: "route", filter: ["!=", ["get", "kind"], "line"],
          paint: { "circle-color": "#6a3fa0", "circle-radius": 6, "circle-stroke-color": "#fff", "circle-stroke-width": 2 },
        },
        {
          id: "along", type: "circle", source: "along",
          paint: { "circle-color": "#2e8b57", "circle-radius": 5, "circle-stroke-color": "#fff", "circle-stroke-width": 1.5 },
        },
      ],
    },
  });
  map.addControl(new maplibregl.NavigationControl(), "top-right");
  window.equinetMap = map;

  // What is on screen, for people and for the browser test.
  map.on("idle", () => {
    const drawn = (layers) => map.queryRenderedFeatures({ layers }).length > 0;
    document.body.dataset.basemap = drawn(["land"]) ? "drawn" : "waiting";
    document.body.dataset.providers = drawn(["clusters", "providers"]) ? "drawn" : "none";
    countClusters();
  });

  // Each cluster's count, as an HTML marker: text in a MapLibre layer needs glyphs, which
  // a page that works offline does not have. A cluster on two tiles' edges is one marker.
  const counted = new Map();
  function countClusters() {
    const seen = new Set();
    for (const cluster of map.queryRenderedFeatures({ layers: ["clusters"] })) {
      const [lng, lat] = cluster.geometry.coordinates;
      const key = `${lng.toFixed(5)},${lat.toFixed(5)},${cluster.properties.count}`;
      seen.add(key);
      if (!counted.has(key)) {
        const label = element("div", String(cluster.properties.count), "cluster-count");
        counted.set(key, new maplibregl.Marker({ element: label }).setLngLat([lng, lat]).addTo(map));
      }
    }
    for (const [key, marker] of counted) {
      if (!seen.has(key)) { marker.remove(); counted.delete(key); }
    }
  }

  map.on("load", async () => {
    const topology = await getJSON("/map/static/vendor/world-atlas/countries-50m.json");
    const countries = topojson.feature(topology, topology.objects.countries);
    for (const country of countries.features) unwrapAntimeridian(country.geometry);
    map.getSource("countries").setData(countries);
  });

  // Rings that cross the antimeridian (Russia's, Fiji's) jump from 180 to -180 and back;
  // drawn as they are they would streak across the world. Their west side moves east.
  function unwrapAntimeridian(geometry) {
    const polygons = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
    for (const ring of polygons.flat()) {
      const longitudes = ring.map(([lng]) => lng);
      if (Math.max(...longitudes) - Math.min(...longitudes) <= 180) continue;
      for (const point of ring) if (point[0] < 0) point[0] += 360;
    }
  }

  async function getJSON(url, options) {
    const response = await fetch(url, options);
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(body.detail || `${response.status} ${response.statusText}`);
    }
    return response.json();
  }

  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function popup(lngLat, ...children) {
    const content = element("div");
    content.append(...children);
    new maplibregl.Popup({ maxWidth: "300px" }).setLngLat(lngLat).setDOMContent(content).addTo(map);
  }

  // Clusters zoom in; a provider shows its public profile.
  map.on("click", "clusters", (event) => {
    const [cluster] = event.features;
    map.easeTo({ center: cluster.geometry.coordinates, zoom: Math.min(map.getZoom() + 2, 13) });
  });
  map.on("click", "providers", (event) => showProfile(event.features[0].id, event.lngLat));
  for (const layer of ["clusters", "providers"]) {
    map.on("mouseenter", layer, () => { map.getCanvas().style.cursor = "pointer"; });
    map.on("mouseleave", layer, () => { map.getCanvas().style.cursor = ""; });
  }

  // A provider's profile; found free near a point, its slots for a visit there too.
  async function showProfile(id, lngLat, free) {
    const profile = await getJSON(`/api/providers/${id}`);
    const services = element("ul");
    for (const service of profile.services) {
      const minutes = `${service.duration_minutes} min, ${service.price} kr`;
      services.append(element("li", `${service.name} (${service.category}): ${minutes}`));
    }
    const parts = [element("h3", profile.business_name), element("div", profile.city || "", "note"),
      element("p", profile.description), services];
    if (free) parts.push(await slotList(profile, free));
    popup([profile.longitude, profile.latitude], ...parts);
  }

  // The provider's free starts in the window for the service of its first free slot, at
  // the searched point; a click books one, signed in.
  async function slotList(profile, free) {
    const service = profile.services.find((s) => s.id === free.serviceId) || profile.services[0];
    const params = new URLSearchParams({
      service_id: service.id, from: $("free-from").value, to: $("free-to").value,
      lat: free.at.lat.toFixed(5), lng: free.at.lng.toFixed(5),
    });
    const slots = await getJSON(`/api/providers/${profile.id}/slots?${params}`);
    const box = element("div");
    box.append(element("div", `${service.name}: ${slots.items.length} free starts (${slots.timezone})`, "note"));
    const buttons = element("div", undefined, "slots");
    for (const slot of slots.items.slice(0, 40)) {
      const button = element("button", when(slot.start));
      button.dataset.start = slot.start;
      button.addEventListener("click", () => book(profile, service, slot, free.at));
      buttons.append(button);
    }
    box.append(buttons);
    return box;
  }

  // A start as the provider's clock shows it (the offset is in the string).
  function when(start) {
    const [day, clock] = start.split("T");
    const weekday = new Date(`${day}T12:00:00Z`).toLocaleDateString("en-GB", { weekday: "short", timeZone: "UTC" });
    return `${weekday} ${day.slice(5)} ${clock.slice(0, 5)}`;
  }

  let customer = null;
  $("book-login").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const login = await getJSON("/api/auth/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ email: $("book-email").value, password: $("book-password").value }),
      });
      customer = login.access_token;
      $("book-note").textContent = "Signed in: pick a free start in a provider's popup to book it.";
    } catch (error) {
      $("book-note").textContent = error.message;
    }
  });

  async function book(profile, service, slot, at) {
    const note = $("book-note");
    if (!customer) {
      note.textContent = "Sign in below to book.";
      return;
    }
    try {
      const booking = await getJSON("/api/bookings", {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${customer}` },
        body: JSON.stringify({
          provider_id: profile.id, service_id: service.id, start: slot.start, horse_name: "Blixten",
          latitude: Number(at.lat.toFixed(5)), longitude: Number(at.lng.toFixed(5)),
        }),
      });
      note.textContent = `Booked ${profile.business_name}, ${when(slot.start)} (booking ${booking.id}, ${booking.status}).`;
      document.querySelectorAll(".maplibregl-popup").forEach((open) => open.remove());
    } catch (error) {
      note.textContent = error.message;
    }
  }

  // A place: geocoded by the API, and flown to.
  $("search").addEventListener("submit", async (event) => {
    event.preventDefault();
    const note = $("search-result");
    try {
      const place = await getJSON(`/api/geocode?q=${encodeURIComponent($("place").value)}`);
      note.textContent = `${place.display_name} (${place.source})`;
      map.flyTo({ center: [place.longitude, place.latitude], zoom: 11 });
    } catch (error) {
      note.textContent = error.message;
    }
  });

  // Nearby: the providers nearest a clicked point, under every strategy offered.
  const categories = $("category");
  for (const category of config.categories) categories.append(new Option(category, category));

  map.on("click", (event) => {
    const onFeature = map.queryRenderedFeatures(event.point, { layers: ["clusters", "providers"] });
    if (onFeature.length > 0) return;
    if ($("free-mode").checked) searchFree(event.lngLat);
    else if ($("nearby-mode").checked) searchNearby(event.lngLat);
  });

  // The round trip as the page sees it, and the search's own time as the server reports
  // it (Server-Timing: search;dur=…, or cache;desc="hit").
  async function timedSearch(params, strategy) {
    const started = performance.now();
    const response = await fetch(`/api/providers/nearby?${params}&strategy=${strategy}`);
    if (!response.ok) throw new Error(`${strategy}: ${response.status}`);
    const page = await response.json();
    const timing = response.headers.get("Server-Timing") || "";
    const searched = /search;dur=([\d.]+)/.exec(timing);
    const server = searched ? `${Number(searched[1]).toFixed(1)} ms` : "cached";
    return { strategy, page, ms: performance.now() - started, server };
  }

  async function searchNearby(lngLat) {
    const radiusKm = Number($("radius").value);
    const params = new URLSearchParams({
      lat: lngLat.lat.toFixed(5), lng: lngLat.lng.toFixed(5), radius_km: radiusKm, limit: 20,
    });
    if (categories.value) params.set("category", categories.value);
    map.getSource("area").setData(circle(lngLat, radiusKm));
    const runs = [];
    for (const strategy of config.strategies) runs.push(await timedSearch(params, strategy));
    showTimings(runs);
    showNearby(runs[0].page.items);
  }

  function showTimings(runs) {
    const ids = (run) => run.page.items.map((item) => item.id).join();
    const rows = runs.map((run) => {
      const row = element("tr");
      row.append(
        element("td", run.strategy),
        element("td", run.server),
        element("td", `${run.ms.toFixed(1)} ms`),
        element("td", ids(run) === ids(runs[0]) ? "yes" : "no"),
      );
      return row;
    });
    $("timings").tBodies[0].replaceChildren(...rows);
    $("timings").hidden = false;
  }

  function showNearby(items) {
    const list = $("nearby-list");
    list.replaceChildren(...items.map((item) => {
      const entry = element("li");
      const name = element("button", item.business_name);
      name.addEventListener("click", () => showProfile(item.id, [item.longitude, item.latitude]));
      entry.append(name, element("span", ` ${item.city || ""} `), element("span", `${(item.distance_m / 1000).toFixed(2)} km`, "distance"));
      return entry;
    }));
    map.getSource("nearby").setData(points(items));
  }

  // Free near me: who has a free start between the two dates, nearest the point first.
  const day = (offset) => new Date(Date.now() + offset * 24 * 3600 * 1000).toISOString().slice(0, 10);
  $("free-from").value = day(1);
  $("free-to").value = day(7);

  async function searchFree(lngLat) {
    const radiusKm = Number($("radius").value);
    const params = new URLSearchParams({
      lat: lngLat.lat.toFixed(5), lng: lngLat.lng.toFixed(5), radius_km: radiusKm, limit: 20,
      from: $("free-from").value, to: $("free-to").value,
    });
    if (categories.value) params.set("category", categories.value);
    map.getSource("area").setData(circle(lngLat, radiusKm));
    const note = $("free-note");
    let page;
    try {
      page = await getJSON(`/api/providers/available?${params}`);
    } catch (error) {
      note.textContent = error.message;
      return;
    }
    note.textContent = page.items.length ? "" : "Nobody is free then within the radius.";
    $("free-list").replaceChildren(...page.items.map((item) => {
      const entry = element("li");
      const name = element("button", item.business_name);
      const free = { serviceId: item.first_free.service_id, at: lngLat };
      name.addEventListener("click", () => showProfile(item.id, [item.longitude, item.latitude], free));
      entry.append(name, element("span", ` ${(item.distance_m / 1000).toFixed(2)} km `, "distance"),
        element("span", `free ${when(item.first_free.start)}`, "first-free"));
      return entry;
    }));
    map.getSource("free").setData(points(page.items));
  }

  // Providers found, as points to draw.
  function points(items) {
    return {
      type: "FeatureCollection",
      features: items.map((item) => ({
        type: "Feature", id: item.id, properties: {},
        geometry: { type: "Point", coordinates: [item.longitude, item.latitude] },
      })),
    };
  }

  // The search's circle on the sphere, as the API measures it.
  function circle(center, radiusKm, steps = 96) {
    const angular = radiusKm / 6371.0088;
    const lat = (center.lat * Math.PI) / 180;
    const lng = (center.lng * Math.PI) / 180;
    const ring = [];
    for (let i = 0; i <= steps; i++) {
      const bearing = (2 * Math.PI * i) / steps;
      const pointLat = Math.asin(Math.sin(lat) * Math.cos(angular) + Math.cos(lat) * Math.sin(angular) * Math.cos(bearing));
      const pointLng = lng + Math.atan2(
        Math.sin(bearing) * Math.sin(angular) * Math.cos(lat),
        Math.cos(angular) - Math.sin(lat) * Math.sin(pointLat),
      );
      ring.push([(pointLng * 180) / Math.PI, (pointLat * 180) / Math.PI]);
    }
    return { type: "Feature", properties: {}, geometry: { type: "Polygon", coordinates: [ring] } };
  }

  // Routes: a provider signs in and picks one of the day's routes.
  $("route-date").valueAsDate = new Date(Date.now() + 24 * 3600 * 1000);  // tomorrow
  let token = null;

  $("route-login").addEventListener("submit", async (event) => {
    event.preventDefault();
    const note = $("route-note");
    try {
      const login = await getJSON("/api/auth/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ email: $("route-email").value, password: $("route-password").value }),
      });
      token = login.access_token;
      const routes = await authorized(`/api/routes?date=${$("route-date").value}`);
      note.textContent = routes.items.length ? "" : "No routes on that day.";
      $("route-list").replaceChildren(...routes.items.map((route) => {
        const entry = element("li");
        const by = route.travel === "roads" ? "by road" : "straight line";
        const pick = element("button", `Route ${route.id}: ${route.stops.length} stops, ${(route.total_distance_m / 1000).toFixed(1)} km ${by}`);
        pick.addEventListener("click", () => showRoute(route.id));
        entry.append(pick);
        return entry;
      }));
    } catch (error) {
      note.textContent = error.message;
    }
  });

  function authorized(url) {
    return getJSON(url, { headers: { Authorization: `Bearer ${token}` } });
  }

  async function showRoute(id) {
    const route = await authorized(`/api/routes/${id}?format=geojson`);
    map.getSource("route").setData(route);
    const along = await authorized(`/api/routes/${id}/nearby-orders`);
    map.getSource("along").setData({
      type: "FeatureCollection",
      features: along.items.map((order) => ({
        type: "Feature", id: order.id, properties: { category: order.category },
        geometry: { type: "Point", coordinates: [order.longitude, order.latitude] },
      })),
    });
    $("route-note").textContent = `${along.items.length} open orders along route ${id}.`;
    // The whole route in view: its stops, and its line where it drives past them.
    const points = route.features.flatMap((f) => f.geometry.type === "Point" ? [f.geometry.coordinates] : f.geometry.coordinates);
    const bounds = points.reduce((box, point) => box.extend(point), new maplibregl.LngLatBounds(points[0], points[0]));
    map.fitBounds(bounds, { padding: 60, maxZoom: 16, animate: false });
  }
})();
