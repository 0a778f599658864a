/* Browser-side pieces: the clock and the map's styling functions (see layouts/map_page.py). */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
    ioc: {
        clock: function (_n, lang, city) {
            const opts = {timeZone: (city && city.timezone) || "Asia/Shanghai", hour12: false,
                          year: "numeric", month: "2-digit", day: "2-digit",
                          hour: "2-digit", minute: "2-digit", second: "2-digit"};
            return new Date().toLocaleString(lang === "en" ? "en-GB" : "zh-CN", opts);
        },
        // Compact incident rows [id, x, y, k, c, s] (ioc.read.citymap.incident_rows) merged into the
        // layer's features: a reset replaces them, a delta adds / replaces rows and drops "gone" ids.
        // Every open incident is kept here; the layer gets those the filter (the wall's category or
        // major-event view) lets through, so a cluster counts exactly the incidents shown.
        mergeRows: function (delta, filter, hideout) {
            const byId = window.iocIncidents = window.iocIncidents || new Map();
            // Each delta once, by identity: the page's own layer arrives with the layout, on the
            // initial call, where no trigger names it; a filter change re-runs this with the same one.
            if (delta && delta !== window.iocMergedDelta) {
                window.iocMergedDelta = delta;
                const rows = typeof delta.rows === "string" ? JSON.parse(delta.rows) : delta.rows;  // a page's own layer
                if (delta.reset) { byId.clear(); }
                (delta.gone || []).forEach(id => byId.delete(id));
                if (!delta.reset) {  // a P1 not on the map before interrupts the wall's rotation
                    const p1 = rows.find(r => r[3] % 10 === 1 && !byId.has(r[0]));
                    if (p1) { window.iocNewP1 = {id: p1[0], latlng: [hideout.origin[1] + p1[2] / hideout.scale,
                                                                      hideout.origin[0] + p1[1] / hideout.scale]}; }
                }
                const o = hideout.origin, s = hideout.scale;
                rows.forEach(r => byId.set(r[0], {
                    type: "Feature", geometry: {type: "Point", coordinates: [o[0] + r[1] / s, o[1] + r[2] / s]},
                    properties: {id: r[0], priority: r[3] % 10, multi: (r[3] % 20) >= 10,
                                 fresh: r[3] >= 20 || !delta.reset, category: r[4], source: r[5]}
                }));
            } else if (!delta) { return window.dash_clientside.no_update; }
            const shown = filter && (filter.categories || (filter.category !== null && filter.category !== undefined
                                                           ? [filter.category] : null));
            const features = Array.from(byId.values());
            return {type: "FeatureCollection",
                    features: shown ? features.filter(f => shown.indexOf(f.properties.category) >= 0) : features};
        },
        // The wall's playlist: each view for its seconds, unless a pan by hand holds the map or a
        // new P1 (seen by mergeRows) interrupts it: fly there, show its card, then carry on.
        // Outputs: the view's name, the interrupt, the view, the map's filter, the panels' category.
        wallRotate: function (_n, rotation, interrupt) {
            const map = (window.iocMaps || []).slice(-1)[0];
            const noUpdate = window.dash_clientside.no_update;
            const none = [noUpdate, noUpdate, noUpdate];
            if (!map || !rotation) { return [noUpdate, noUpdate, ...none]; }
            const now = Date.now();
            const state = window.iocWall = window.iocWall || {index: -1, until: 0};
            const p1 = window.iocNewP1;
            if (p1 && !map._iocHeld) {
                window.iocNewP1 = null;
                state.interruptUntil = now + rotation.p1_seconds * 1000;
                map.flyTo(p1.latlng, 16, {duration: 1});
                return [noUpdate, {id: p1.id}, ...none];
            }
            if (state.interruptUntil) {
                if (now < state.interruptUntil) { return [noUpdate, noUpdate, ...none]; }
                state.interruptUntil = 0;
                state.until = 0;
                state.index -= 1;  // resume the view that was showing
            }
            if (map._iocHeld || now < state.until) { return [noUpdate, interrupt ? null : noUpdate, ...none]; }
            state.index = (state.index + 1) % rotation.views.length;
            const view = rotation.views[state.index];
            state.until = now + view.seconds * 1000;
            if (rotation.views.length > 1 || state.index === 0 && !state.shown) {
                map.flyToBounds(view.bounds, {duration: 1});
                state.shown = true;
            }
            const filter = view.categories ? {categories: view.categories}
                : view.category !== null && view.category !== undefined ? {category: view.category} : null;
            const category = view.category_code || null;
            const same = state.started && JSON.stringify(filter) === JSON.stringify(state.filter);
            const sameCategory = state.started && category === state.category;
            state.filter = filter; state.category = category; state.started = true;
            return [view.name, interrupt ? null : noUpdate, view, same ? noUpdate : filter,
                    sameCategory ? noUpdate : category];
        },
        // A view that names its layers switches them (a kiosk has no buttons); it draws its event's area.
        wallViewMode: function (view, mode) {
            const noUpdate = window.dash_clientside.no_update;
            if (!view) { return [noUpdate, noUpdate]; }
            const area = view.area || {type: "FeatureCollection", features: []};
            if (!view.layers) { return [noUpdate, area]; }
            return [{per_10k: view.layers.indexOf("per_10k") >= 0, density: view.layers.indexOf("density") >= 0},
                    area];
        },
        wallToggle: function (_a, _b, mode) {
            const which = window.dash_clientside.callback_context.triggered_id === "wall-per10k" ? "per_10k" : "density";
            return Object.assign({}, mode, {[which]: !(mode && mode[which])});
        },
        // Divisions shaded by open incidents per 10,000 residents; the legend says the scale.
        wallShade: function (mode, rates, hideout) {
            const on = !!(mode && mode.per_10k);
            [["wall-per10k", on], ["wall-density", !!(mode && mode.density)]].forEach(([id, pressed]) => {
                const b = document.getElementById(id);
                if (b) { b.setAttribute("aria-pressed", pressed ? "true" : "false"); }
            });
            const values = Object.values(rates || {});
            const top = values.length ? Math.max.apply(null, values) : 0;
            const legend = document.getElementById("wall-legend");
            const label = legend ? legend.dataset.per10k : "";
            const text = on ? label + " 0 – " + top.toFixed(1) : "";
            return [Object.assign({}, hideout, {rates: on ? rates || {} : null, top: top}), text, !on];
        },
        // The density layer: open incidents counted in cells of about 1 km, built from the features
        // the map already has (no request); empty while it is switched off.
        densityCells: function (data, mode, hideout) {
            const empty = {type: "FeatureCollection", features: []};
            if (!mode || !mode.density || !data) { return empty; }
            const step = 0.01, counts = new Map();
            data.features.forEach(f => {
                const c = f.geometry.coordinates;
                const key = Math.floor(c[0] / step) + ":" + Math.floor(c[1] / step);
                counts.set(key, (counts.get(key) || 0) + 1);
            });
            const top = Math.max.apply(null, [1, ...counts.values()]);
            const features = [];
            counts.forEach((n, key) => {
                const [i, j] = key.split(":").map(Number);
                const w = i * step, s = j * step;
                features.push({type: "Feature", properties: {n: n, share: n / top},
                               geometry: {type: "Polygon", coordinates: [[[w, s], [w + step, s], [w + step, s + step],
                                                                          [w, s + step], [w, s]]]}});
            });
            return {type: "FeatureCollection", features: features};
        },
        // The wall's "follow" button: fit the city and follow again (see iocHoldOnTouch).
        wallFollow: function (_n, bounds) {
            const map = (window.iocMaps || []).slice(-1)[0];
            if (map && bounds) { map._iocHeld = false; map.flyToBounds(bounds, {duration: 0.8}); }
            return "wall-follow following";
        },
        unitFeatures: function (rows, hideout) {
            if (!rows) { return window.dash_clientside.no_update; }
            const o = hideout.origin, s = hideout.scale;
            return {type: "FeatureCollection", features: rows.map(r => ({
                type: "Feature", geometry: {type: "Point", coordinates: [o[0] + r[1] / s, o[1] + r[2] / s]},
                properties: {call_sign: r[0], status: r[3], unit_type: r[4]}
            }))};
        }
    }
});

const IOC_COUNT = new Intl.NumberFormat();  // one formatter for every cluster's number
const IOC_PRIORITY_COLOURS = {1: "#ff3b3b", 2: "#ff9f1a", 3: "#ffd54f", 4: "#9fb3c8"};
const IOC_UNIT_COLOURS = {AVAILABLE: "#3ddc97", CLEARED: "#3ddc97", DISPATCHED: "#ffd54f", EN_ROUTE: "#ff9f1a",
                          ON_SCENE: "#ff3b3b", OUT_OF_SERVICE: "#5b6678"};

// Light yellow → orange → deep red, for a share 0..1 (shading and density alike).
function iocRamp(share) {
    const stops = [[255, 237, 160], [254, 178, 76], [240, 59, 32], [165, 0, 38]];
    const x = Math.max(0, Math.min(1, share)) * (stops.length - 1), i = Math.min(stops.length - 2, Math.floor(x));
    const f = x - i, c = stops[i].map((v, k) => Math.round(v + (stops[i + 1][k] - v) * f));
    return "rgb(" + c.join(",") + ")";
}

// The most urgent priority in a cluster. A P1 is among the first few leaves of almost every big
// cluster, so look there first: reading every leaf of every cluster was a fifth of the first draw.
function iocTopPriority(index, clusterId) {
    const lowest = leaves => leaves.reduce((top, l) => Math.min(top, l.properties.priority), 9);
    const top = lowest(index.getLeaves(clusterId, 64));
    return top === 1 ? 1 : lowest(index.getLeaves(clusterId, Infinity));
}

function iocIsStale(p, hideout) {
    const name = hideout && hideout.sources && p.source > 0 ? hideout.sources[p.source - 1] : null;
    return name !== null && (hideout.stale || []).indexOf(name) >= 0;
}

// Every tooltip and popup goes through these: feed text becomes a DOM text node, never HTML,
// so a report titled "<img src=x onerror=...>" shows those characters and runs nothing.
function iocTextElement(text) {
    const el = document.createElement("span");
    el.textContent = text === undefined || text === null ? "" : String(text);
    return el;
}

// Each Leaflet map registers itself, so the wall can follow or hold its view (see layouts/wall_page.py).
// A pan or zoom by hand holds the view (map._iocHeld) until "follow" is pressed (wall_page).
function iocHoldOnTouch(map) {
    const hold = () => {
        map._iocHeld = true;
        const button = document.getElementById("wall-follow");
        if (button) { button.className = "wall-follow held"; }
    };
    ["mousedown", "wheel", "touchstart"].forEach(name => map.getContainer().addEventListener(name, hold));
}
if (window.L) {
    L.Map.addInitHook(function () {
        (window.iocMaps = window.iocMaps || []).push(this);
        iocHoldOnTouch(this);
    });
}

window.ioc = Object.assign({}, window.ioc, {
    tooltip: function (layer, text, options) { return layer.bindTooltip(iocTextElement(text), options); },
    popup: function (layer, text, options) { return layer.bindPopup(iocTextElement(text), options); },
    map: {
        divisionStyle: function (feature, context) {
            const h = context.hideout || {};
            const selected = h.selected === feature.properties.code;
            if (h.rates) {  // the wall's shading: open incidents per 10,000 residents, light to deep red
                const share = h.top > 0 ? (h.rates[feature.properties.code] || 0) / h.top : 0;
                return {color: selected ? "#ffd54f" : "#5ec8ff", weight: selected ? 3 : 1.2,
                        fillColor: iocRamp(share), fillOpacity: 0.15 + 0.55 * share};
            }
            return {color: selected ? "#ffd54f" : "#5ec8ff", weight: selected ? 3 : 1.4,
                    fillColor: selected ? "#ffd54f" : "#1d6fa5", fillOpacity: selected ? 0.25 : 0.12};
        },
        densityStyle: function (feature, context) {
            const share = feature.properties.share;
            return {stroke: false, fillColor: iocRamp(share), fillOpacity: 0.25 + 0.6 * share};
        },
        eventAreaStyle: function (feature, context) {
            return {color: "#b48cff", weight: 3, dashArray: "10 6", fill: false};
        },
        divisionLabel: function (feature, layer, context) {
            const p = feature.properties;
            const lang = (context.hideout && context.hideout.lang) || "zh-CN";
            const name = lang === "en" && p.name_en ? p.name_en : p.name_zh;
            // A marker, not a permanent tooltip: each opening tooltip reads its size back, a forced
            // layout per division (about a second for 33 on a loaded machine); a marker only moves.
            const label = L.marker([0, 0], {interactive: false, keyboard: false, pane: "tooltipPane",
                                            icon: L.divIcon({className: "division-label", iconSize: null,
                                                             html: iocTextElement(name)})});
            layer.on("add", () => label.setLatLng(layer.getCenter()).addTo(layer._map));
            layer.on("remove", () => label.remove());
        },
        keyPoint: function (feature, latlng, context) {
            const color = (context.hideout && context.hideout.color) || "#ffffff";
            return L.circleMarker(latlng, {radius: 5, color: "#0b1220", weight: 1,
                                           fillColor: color, fillOpacity: 0.95});
        },
        alertStyle: function (feature, context) {
            const colors = {white: "#e8eef7", blue: "#2f7bff", yellow: "#ffd400", orange: "#ff8c00", red: "#ff2020"};
            const c = colors[feature.properties.colour] || "#b48cff";
            return {color: c, weight: 2, dashArray: "6 4", fillColor: c, fillOpacity: 0.10};
        },
        alertTooltip: function (feature, layer, context) {
            window.ioc.tooltip(layer, feature.properties.headline || "", {sticky: true});
        },
        incident: function (feature, latlng, context) {
            const p = feature.properties;
            const stale = iocIsStale(p, context.hideout);
            const fill = stale ? "#5b6678" : IOC_PRIORITY_COLOURS[p.priority] || "#ffd54f";
            if (p.fresh && p.priority <= 2 && !stale) {  // new P1/P2 pulse (ioc.css .pulse)
                return L.marker(latlng, {icon: L.divIcon({className: "pulse pulse-p" + p.priority,
                                                          iconSize: [18, 18]})});
            }
            return L.circleMarker(latlng, {radius: p.multi ? 8 : 6, color: "#0b1220", weight: 1.5,
                                           fillColor: fill, fillOpacity: stale ? 0.5 : 0.95});
        },
        // A cluster's number is exactly the incidents it holds; its colour is the most urgent inside.
        cluster: function (feature, latlng, index, context) {
            const top = iocTopPriority(index, feature.properties.cluster_id);
            const n = feature.properties.point_count;
            const size = n < 100 ? 34 : n < 1000 ? 42 : 50;
            return L.marker(latlng, {icon: L.divIcon({className: "incident-cluster cluster-p" + top,
                                                      iconSize: [size, size],
                                                      html: iocTextElement(IOC_COUNT.format(n))})});
        },
        incidentTooltip: function (feature, layer, context) {
            const p = feature.properties;
            if (p.cluster) { return; }
            const names = (context.hideout && context.hideout.categories) || [];
            window.ioc.tooltip(layer, "P" + p.priority + " · " + (names[p.category] || "") + (p.multi ? " ×" : ""));
        },
        unit: function (feature, latlng, context) {
            return L.circleMarker(latlng, {radius: 5, color: "#ffffff", weight: 2,
                                           fillColor: IOC_UNIT_COLOURS[feature.properties.status] || "#2979ff",
                                           fillOpacity: 1});
        },
        unitTooltip: function (feature, layer, context) {
            const p = feature.properties;
            window.ioc.tooltip(layer, p.call_sign + " · " + p.status);
        },
        keyPointTooltip: function (feature, layer, context) {
            const p = feature.properties;
            const lang = (context.hideout && context.hideout.lang) || "zh-CN";
            window.ioc.tooltip(layer, lang === "en" && p.name_en ? p.name_en : p.name_zh);
        }
    }
});
