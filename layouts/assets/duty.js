/* The duty officer's pages in the browser: live SLA countdowns, the board's grid cells and the
   dispatch console's keyboard shortcuts (see layouts/chips.py, board_page.py, dispatch_page.py). */
(function () {
    function countdown(el) {
        const due = Date.parse(el.dataset.due);
        if (isNaN(due)) { return; }
        let left = Math.round((due - Date.now()) / 1000);
        const late = left < 0;
        left = Math.abs(left);
        const h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
        const pad = (n) => String(n).padStart(2, "0");
        el.textContent = (late ? "−" : "") + (h ? h + ":" + pad(m) : m) + ":" + pad(s);
        const chip = el.closest(".sla-chip");
        if (late && chip && !chip.classList.contains("sla-supervised") && !chip.classList.contains("sla-overdue")) {
            chip.classList.remove("sla-ok", "sla-due_soon");
            chip.classList.add("sla-overdue");
            const label = chip.querySelector(".sla-label");
            if (label && chip.dataset.late) { label.textContent = chip.dataset.late; }
        }
    }
    setInterval(function () { document.querySelectorAll(".sla-countdown[data-due]").forEach(countdown); }, 1000);
    window.iocDuty = {countdown: countdown};
})();

window.dash_clientside = Object.assign({}, window.dash_clientside, {
    iocDuty: {
        // The board's query changed (or its refresh timer ticked): the grid asks for its blocks again.
        reloadGrid: function () {
            try {
                dash_ag_grid.getApi("board-grid").purgeInfiniteCache();
            } catch (e) {
                // not drawn yet: its first request will read the new query anyway
            }
            return Date.now();
        }
    }
});

// AG Grid cells of the board. Text goes in as text (React escapes it), never as HTML.
var dagcomponentfuncs = (window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {});
(function () {
    const h = function () { return React.createElement.apply(React, arguments); };
    dagcomponentfuncs.IncidentLink = function (props) {
        if (props.value == null) { return null; }
        return h("a", {href: "/incident/" + props.value, className: "grid-link"}, "#" + props.value);
    };
    dagcomponentfuncs.Priority = function (props) {
        return props.value ? h("span", {className: "prio prio-" + props.value}, props.value) : null;
    };
    dagcomponentfuncs.SlaChip = function (props) {
        const v = props.value;
        if (!v) { return null; }
        return h("span", {className: "sla-chip sla-" + v.state, "data-late": v.late},
                 h("span", {className: "sla-label"}, v.label),
                 h("span", {className: "sla-countdown", "data-due": v.due}));
    };
    dagcomponentfuncs.Age = function (props) {
        return props.value ? h("span", {className: "age", "data-since": props.value}) : null;
    };
})();

setInterval(function () {
    document.querySelectorAll(".age[data-since]").forEach(function (el) {
        const mins = Math.max(0, Math.floor((Date.now() - Date.parse(el.dataset.since)) / 60000));
        el.textContent = mins < 60 ? mins + "′" : Math.floor(mins / 60) + "h" + String(mins % 60).padStart(2, "0") + "′";
    });
}, 1000);

// The dispatch console's keys: N/J next, K previous, 1/D first recommendation, Enter confirm, Esc cancel.
document.addEventListener("keydown", function (ev) {
    if (window.location.pathname !== "/dispatch" || ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    const tag = (ev.target && ev.target.tagName) || "";
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") { return; }
    const targets = {n: "#dc-next", j: "#dc-next", k: "#dc-prev", "1": ".dc-key-first", d: ".dc-key-first",
                     Enter: ".dc-key-confirm", Escape: ".dc-key-cancel"};
    const selector = targets[ev.key.length === 1 ? ev.key.toLowerCase() : ev.key];
    if (!selector) { return; }
    const button = document.querySelector(selector);
    if (!button || button.offsetParent === null) { return; }  // not there, or hidden
    ev.preventDefault();
    button.click();
});

// The kanban: drag a card onto another column; the drop goes to the server as {id, version, from, to}.
(function () {
    let dragged = null;
    document.addEventListener("dragstart", function (ev) {
        const card = ev.target.closest && ev.target.closest(".kanban-card");
        if (!card) { return; }
        dragged = {id: card.dataset.id, version: card.dataset.version, from: card.dataset.status};
        ev.dataTransfer.effectAllowed = "move";
        ev.dataTransfer.setData("text/plain", card.dataset.id);
    });
    document.addEventListener("dragover", function (ev) {
        if (dragged && ev.target.closest && ev.target.closest(".kanban-column")) { ev.preventDefault(); }
    });
    document.addEventListener("drop", function (ev) {
        const column = ev.target.closest && ev.target.closest(".kanban-column");
        if (!dragged || !column) { return; }
        ev.preventDefault();
        const move = Object.assign({}, dragged, {to: column.dataset.status, at: Date.now()});
        dragged = null;
        window.dash_clientside.set_props("kanban-drop", {data: move});
    });
})();
