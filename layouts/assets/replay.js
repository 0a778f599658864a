/* City replay (layouts/replay_page.py): the day's compact rows (ioc.read.replay) become the map at
   the slider's moment, in the browser; play / pause, speed and the keys never ask the server. */
window.iocReplay = {t: 0, max: 0, last: null, sig: {}};

function iocReplayState(changes, t) {
    // [t, state, t, state, ...] in time order: the last state from at or before t (-1: not yet reported).
    let state = -1;
    for (let i = 0; i < changes.length && changes[i] <= t; i += 2) { state = changes[i + 1]; }
    return state;
}

function iocReplayUnit(frames, t) {
    // [t, x, y, status, ...]: where a unit was at t, moving in a line towards its next place.
    let k = -1;
    for (let i = 0; i < frames.length && frames[i] <= t; i += 4) { k = i; }
    if (k < 0 || frames[k + 3] < 0) { return null; }
    let x = frames[k + 1], y = frames[k + 2];
    const n = k + 4;
    if (n < frames.length && frames[n + 3] >= 0 && (frames[n + 1] !== x || frames[n + 2] !== y) && frames[n] > frames[k]) {
        const q = (t - frames[k]) / (frames[n] - frames[k]);
        x += (frames[n + 1] - x) * q;
        y += (frames[n + 2] - y) * q;
    }
    return [x, y, frames[k + 3]];
}

function iocReplaySame(layer, sig) {
    // Redraw a layer only when what it shows changed (the slider moves many times a second).
    const same = window.iocReplay.sig[layer] === sig;
    window.iocReplay.sig[layer] = sig;
    return same;
}

function iocReplayEl(type, props) {
    return {type: type, namespace: "dash_html_components", props: props};
}

window.dash_clientside = Object.assign({}, window.dash_clientside, {
    replay: {
        render: function (value, data, city) {
            const noUpdate = window.dash_clientside.no_update;
            if (!data) { return Array(13).fill(noUpdate); }
            const t = value || 0, o = data.origin, s = data.scale;
            const state = window.iocReplay;
            state.max = data.end - data.start;
            state.t = Math.abs(state.t - t) < 1.5 ? state.t : t;
            const place = (x, y) => ({type: "Point", coordinates: [o[0] + x / s, o[1] + y / s]});
            const counts = {1: 0, 2: 0, 3: 0, 4: 0};
            const incidents = [], keys = [];
            let reported = 0;
            data.incidents.forEach(r => {
                const changes = r[5];
                if (changes[0] >= 0 && changes[0] <= t) { reported += 1; }
                const st = iocReplayState(changes, t);
                if (st < 1 || st > 4) { return; }
                const fresh = changes[0] >= 0 && t - changes[0] < 600;
                counts[r[3]] += 1;
                keys.push(r[0] * 10 + st + (fresh ? 5 : 0));
                incidents.push({type: "Feature", geometry: place(r[1], r[2]),
                                properties: {id: r[0], priority: r[3], category: r[4], state: st, fresh: fresh}});
            });
            const units = [];
            data.units.forEach(u => {
                const at = iocReplayUnit(u[2], t);
                if (at) {
                    units.push({type: "Feature", geometry: place(at[0], at[1]),
                                properties: {call_sign: u[0], unit_type: u[1], status: city.unitCodes[at[2]]}});
                }
            });
            const inForce = data.alerts.features.filter(f => f.properties.on <= t &&
                                                         (f.properties.off === null || t < f.properties.off));
            const warnings = new Map();
            inForce.forEach(f => warnings.set(f.properties.id, f.properties));
            const when = new Date((data.start + t) * 1000).toLocaleString(city.lang === "en" ? "en-GB" : "zh-CN", {
                timeZone: city.timezone, hour12: false, year: "numeric", month: "2-digit", day: "2-digit",
                hour: "2-digit", minute: "2-digit", second: "2-digit"});
            const list = Array.from(warnings.values()).map(p => iocReplayEl("Li", {className: "alert-item", children: [
                iocReplayEl("Span", {className: "signal signal-" + (p.colour || "none")}),
                iocReplayEl("Span", {children: String(p.headline || "")})]}));
            const open = counts[1] + counts[2] + counts[3] + counts[4];
            return [
                iocReplaySame("incidents", keys.join(",")) ? noUpdate : {type: "FeatureCollection", features: incidents},
                iocReplaySame("units", JSON.stringify(units.map(f => f.geometry.coordinates.concat(f.properties.status))))
                    ? noUpdate : {type: "FeatureCollection", features: units},
                iocReplaySame("alerts", Array.from(warnings.keys()).join(",")) ? noUpdate
                    : {type: "FeatureCollection", features: inForce},
                when, open.toLocaleString(), counts[1].toLocaleString(), counts[2].toLocaleString(),
                counts[3].toLocaleString(), counts[4].toLocaleString(), units.length.toLocaleString(),
                warnings.size.toLocaleString(), reported.toLocaleString(), list,
            ];
        },
        // Play from where the slider is (from the start again when it is at the end); pause.
        toggle: function (_n, paused, value, max, city) {
            const noUpdate = window.dash_clientside.no_update;
            if (!paused) { return [true, city.play, "btn replay-play", noUpdate]; }
            window.iocReplay.last = performance.now();
            const restart = (value || 0) >= max;
            if (restart) { window.iocReplay.t = 0; }
            return [false, city.pause, "btn replay-play playing", restart ? 0 : noUpdate];
        },
        // Each tick moves the replayed time by the real time gone × the speed; it stops at the end.
        tick: function (_n, value, max, speed, city) {
            const noUpdate = window.dash_clientside.no_update;
            const state = window.iocReplay, now = performance.now();
            const gone = state.last === null ? 0 : (now - state.last) / 1000;
            state.last = now;
            state.t = (Math.abs(state.t - (value || 0)) < 1.5 ? state.t : (value || 0)) + gone * (speed || 1);
            if (state.t >= max) {
                state.t = max;
                return [true, city.play, "btn replay-play", max];
            }
            return [noUpdate, noUpdate, noUpdate, Math.floor(state.t)];
        },
        // Reports per 15 minutes along the slider: where the night got busy.
        activity: function (data) {
            if (!data) { return window.dash_clientside.no_update; }
            const bins = Math.max(1, Math.ceil((data.end - data.start) / 900));
            const n = new Array(bins).fill(0);
            data.incidents.forEach(r => {
                const at = r[5][0];
                if (at >= 0 && at < data.end - data.start) { n[Math.floor(at / 900)] += 1; }
            });
            const top = Math.max(1, Math.max.apply(null, n));
            return n.map(v => iocReplayEl("Div", {className: "bar", style: {height: (100 * v / top) + "%"}}));
        }
    }
});

// Space: play / pause; ←/→: a minute back / on (with Shift: ten). Not while typing in a field.
document.addEventListener("keydown", function (ev) {
    if (window.location.pathname !== "/replay" || ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    const tag = (ev.target && ev.target.tagName) || "";
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") { return; }
    if (ev.key === " " || ev.key === "Spacebar") {
        if (tag === "BUTTON") { return; }  // a focused button takes the space itself
        const play = document.getElementById("replay-play");
        if (play) { ev.preventDefault(); play.click(); }
        return;
    }
    if (ev.key !== "ArrowLeft" && ev.key !== "ArrowRight") { return; }
    const state = window.iocReplay;
    const step = (ev.shiftKey ? 600 : 60) * (ev.key === "ArrowLeft" ? -1 : 1);
    state.t = Math.min(state.max, Math.max(0, Math.floor(state.t) + step));
    ev.preventDefault();
    ev.stopPropagation();  // the focused slider would move by one second
    window.dash_clientside.set_props("replay-slider", {value: state.t});
}, true);

window.ioc = window.ioc || {};
window.ioc.replay = {
    // Priority is the fill, as on the live map; the ring says how far it got: dashed white = no one
    // has taken it yet, dark = acknowledged, blue = units sent, green = on scene. New P1 / P2 pulse.
    incident: function (feature, latlng, context) {
        const p = feature.properties;
        if (p.fresh && p.priority <= 2) {
            return L.marker(latlng, {icon: L.divIcon({className: "pulse pulse-p" + p.priority + " replay-incident",
                                                      iconSize: [18, 18]})});
        }
        const rings = {1: {color: "#ffffff", weight: 2, dashArray: "3 3", fillOpacity: 0.6},
                       2: {color: "#0b1220", weight: 1.5}, 3: {color: "#5ec8ff", weight: 3},
                       4: {color: "#3ddc97", weight: 3}};
        return L.circleMarker(latlng, Object.assign({radius: 7, fillColor: IOC_PRIORITY_COLOURS[p.priority] || "#ffd54f",
                                                     fillOpacity: 0.95, className: "replay-incident state-" + p.state},
                                                    rings[p.state] || {}));
    },
    incidentTooltip: function (feature, layer, context) {
        const p = feature.properties;
        if (p.cluster) { return; }
        const h = context.hideout || {};
        window.ioc.tooltip(layer, "P" + p.priority + " · " + ((h.categories || [])[p.category] || "") + " · " +
                                  ((h.states || [])[p.state] || ""));
    },
    unit: function (feature, latlng, context) {
        return L.circleMarker(latlng, {radius: 5, color: "#ffffff", weight: 2, className: "replay-unit",
                                       fillColor: IOC_UNIT_COLOURS[feature.properties.status] || "#2979ff",
                                       fillOpacity: 1});
    },
    unitTooltip: function (feature, layer, context) {
        const p = feature.properties;
        const names = (context.hideout && context.hideout.units) || {};
        window.ioc.tooltip(layer, p.call_sign + " · " + (names[p.status] || p.status));
    }
};
