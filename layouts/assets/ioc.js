/* Browser-side pieces: the clock and the map's styling functions (see layouts/map_page.py). */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
    ioc: {
        clock: function (_n, lang, city) {
            const opts = {timeZone: (city && city.timezone) || "Asia/Shanghai", hour12: false,
                          year: "numeric", month: "2-digit", day: "2-digit",
                          hour: "2-digit", minute: "2-digit", second: "2-digit"};
            return new Date().toLocaleString(lang === "en" ? "en-GB" : "zh-CN", opts);
        }
    }
});

// Every tooltip and popup goes through these: feed text becomes a DOM text node, never HTML,
// so a report titled "<img src=x onerror=...>" shows those characters and runs nothing.
function iocTextElement(text) {
    const el = document.createElement("span");
    el.textContent = text === undefined || text === null ? "" : String(text);
    return el;
}

// Each Leaflet map registers itself, so the wall can follow or hold its view (see layouts/wall_page.py).
if (window.L) {
    L.Map.addInitHook(function () { (window.iocMaps = window.iocMaps || []).push(this); });
}

window.ioc = Object.assign({}, window.ioc, {
    tooltip: function (layer, text, options) { return layer.bindTooltip(iocTextElement(text), options); },
    popup: function (layer, text, options) { return layer.bindPopup(iocTextElement(text), options); },
    map: {
        divisionStyle: function (feature, context) {
            const selected = context.hideout && context.hideout.selected === feature.properties.code;
            return {color: selected ? "#ffd54f" : "#5ec8ff", weight: selected ? 3 : 1.4,
                    fillColor: selected ? "#ffd54f" : "#1d6fa5", fillOpacity: selected ? 0.25 : 0.12};
        },
        divisionLabel: function (feature, layer, context) {
            const p = feature.properties;
            const lang = (context.hideout && context.hideout.lang) || "zh-CN";
            const name = lang === "en" && p.name_en ? p.name_en : p.name_zh;
            window.ioc.tooltip(layer, name, {permanent: true, direction: "center", className: "division-label"});
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
            const colors = {P1: "#ff3b3b", P2: "#ff9f1a", P3: "#ffd54f", P4: "#9fb3c8"};
            const p = feature.properties;
            const r = p.reports > 1 ? 8 : 6;
            return L.circleMarker(latlng, {radius: r, color: "#0b1220", weight: 1.5,
                                           fillColor: colors[p.priority] || "#ffd54f", fillOpacity: 0.95});
        },
        incidentTooltip: function (feature, layer, context) {
            const p = feature.properties;
            const more = p.reports > 1 ? " ×" + p.reports : "";
            window.ioc.tooltip(layer, p.priority + " · " + (p.title || p.category) + more);
        },
        unit: function (feature, latlng, context) {
            return L.circleMarker(latlng, {radius: 5, color: "#ffffff", weight: 2,
                                           fillColor: "#2979ff", fillOpacity: 1});
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
