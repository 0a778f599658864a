/* The summary page's choropleth (layouts/summary_page.py): division colour by the chosen rate. */
window.ioc = Object.assign({}, window.ioc, {
    summary: {
        colour: function (value) {
            if (value === undefined || value === null) { return "#3a4660"; }
            // red (0 %) → amber (50 %) → green (100 %)
            const stops = [[0, [214, 48, 49]], [0.5, [240, 173, 40]], [1, [46, 184, 114]]];
            const v = Math.max(0, Math.min(1, value));
            const i = v <= 0.5 ? 0 : 1;
            const [a, ca] = stops[i], [b, cb] = stops[i + 1];
            const f = (v - a) / (b - a);
            const c = ca.map((x, k) => Math.round(x + (cb[k] - x) * f));
            return "rgb(" + c.join(",") + ")";
        },
        choropleth: function (feature, context) {
            const values = (context.hideout && context.hideout.values) || {};
            return {color: "#0b1220", weight: 1, fillOpacity: 0.85,
                    fillColor: window.ioc.summary.colour(values[feature.properties.code])};
        },
        tooltip: function (feature, layer, context) {
            const h = context.hideout || {};
            const p = feature.properties;
            const name = h.lang === "en" && p.name_en ? p.name_en : p.name_zh;
            const v = (h.values || {})[p.code];
            const shown = v === undefined || v === null ? "–" : (v * 100).toFixed(1) + " %";
            window.ioc.tooltip(layer, name + " · " + h.metric + " " + shown, {sticky: true});  // as text, like every tooltip
        }
    }
});
