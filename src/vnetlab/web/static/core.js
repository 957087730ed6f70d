/* vnetlab web: the page's shared pieces: DOM helpers and the page's state (S). Loaded first; the other
 * scripts of the page take what they use from window.VnetlabPage. */
(function (V) {
  "use strict";
  const $ = (sel) => document.querySelector(sel);

  // ------------------------------------------------------------------ small helpers
  /** An element: h("td", {class: "ok", title: "..."}, "text", child...). Text is always text. */
  function h(tag, props, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "dataset") Object.assign(el.dataset, v);
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "text") el.textContent = v;
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.append(kid instanceof Node ? kid : String(kid));
    }
    return el;
  }

  /** el.replaceChildren(...kids), leaving out the null/false kids (the DOM would write "null"). */
  function fill(el, ...kids) {
    el.replaceChildren(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false));
    return el;
  }

  // ------------------------------------------------------------------ state
  const S = {
    labs: { files: [], running: [] },
    selected: null,      // {kind: "lab", lab, file} | {kind: "file", file, lab}
    topology: null,
    map: null,
    mapKey: null,        // what the drawn map shows: a redraw when it changes
    drawCount: 0,
    updates: 0,
    pollTimer: null,
    polling: false,
    tab: "node",
    node: null,          // the node shown in the node panel
    changeKey: null,     // the live state last seen (edges' state): "re-run on change"
    checksRunning: false,
    trace: null,
    capture: null,       // {id, lab, timer}
    shell: null,         // {ws, term, fit, node, lab, observer}
    jobs: new Map(),
    dirty: new Set(),    // side panels to build again when their tab is shown
    checksKey: null,
    formsKey: null,
  };

  const isLive = () => S.selected && S.selected.kind === "lab";
  const currentLab = () => (isLive() ? S.selected.lab : null);

  function section(title, ...body) {
    return h("details", { class: "section", open: true, "data-section": title }, h("summary", {}, title), ...body);
  }

  function table(headers, rows, props) {
    const body = rows.length ? rows.map((r) => h("tr", {}, r.map((c) => (c instanceof Node ? h("td", {}, c)
      : h("td", {}, c === null || c === undefined ? "" : String(c))))))
      : [h("tr", { class: "empty" }, h("td", { colspan: headers.length }, "(none)"))];
    return h("div", { class: "scroll" }, h("table", { class: "grid", ...(props || {}) },
      h("thead", {}, h("tr", {}, headers.map((t) => h("th", {}, t)))), h("tbody", {}, body)));
  }

  function pre(text, cls) {
    return h("pre", { class: "out " + (cls || "") }, text && String(text).trim() ? String(text) : "(none)");
  }

  function timeOf(at) {
    const d = new Date(at);
    return isNaN(d) ? at : d.toLocaleTimeString();
  }

  Object.assign(V, { $, h, fill, S, isLive, currentLab, section, table, pre, timeOf });
})(window.VnetlabPage = window.VnetlabPage || {});
