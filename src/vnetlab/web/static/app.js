/* vnetlab web: the page. Plain JS, no build step; it talks only to this server's /api (see the
 * HTTP API in the contract) and draws the map with topology.js (VnetlabMap) and trace.js.
 *
 * Layout as in Proxmox: the tree of lab files and running labs on the left, the map in the middle,
 * the tabs (node, checks, trace, reach, capture, shell, course) on the right, the task log below.
 * Tests and the benchmark read window.vnetlab and the data-* attributes set here.
 */
(function () {
  "use strict";

  const POLL_MS = 1000; // the map's refresh: a change made from a shell shows within 2 s
  const LABS_MS = 3000; // the tree's refresh (labs brought up or down elsewhere)
  const JOB_MS = 400;
  const CAPTURE_MS = 1000;

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

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  /** One API call: JSON in and out; an error answer ({"error": ...}) raises ApiError. */
  async function api(method, path, body) {
    const opts = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const answer = await fetch(path, opts);
    let data = null;
    try { data = await answer.json(); } catch (_) { data = null; }
    if (!answer.ok) {
      const message = (data && data.error) || `${answer.status} ${answer.statusText}`;
      throw new ApiError(answer.status, message);
    }
    return data;
  }

  const enc = encodeURIComponent;
  const labPath = (lab) => `/api/labs/${enc(lab)}`;

  function status(text, state) {
    const el = $("#top-status");
    el.textContent = text || "";
    el.dataset.state = state || "idle";
    if (state === "error") console.warn("vnetlab:", text);
  }

  function fail(where, err) {
    status(`${where}: ${err.message || err}`, "error");
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

  // ------------------------------------------------------------------ the tree (#labs)
  async function refreshLabs() {
    try {
      S.labs = await api("GET", "/api/labs");
    } catch (err) {
      fail("labs", err);
      return;
    }
    renderLabs();
    // The lab shown went down elsewhere: show its file instead, or nothing.
    if (isLive() && !S.labs.running.some((r) => r.lab === S.selected.lab)) {
      const file = S.selected.file;
      if (file && S.labs.files.some((f) => f.file === file)) selectFile(file);
      else clearSelection();
    }
  }

  function jobOf(predicate) {
    for (const job of S.jobs.values()) if (job.state === "running" && predicate(job)) return job;
    return null;
  }

  function renderLabs() {
    const files = $("#labs-files");
    const running = $("#labs-running");
    fill(files);
    fill(running);
    $("#labs-empty").hidden = S.labs.files.length > 0;
    for (const f of S.labs.files) {
      const busy = jobOf((j) => j.file === f.file || (f.lab && j.lab === f.lab));
      const selected = S.selected && S.selected.kind === "file" && S.selected.file === f.file;
      const li = h("li", {
        class: "tree-item" + (selected ? " selected" : "") + (f.problem ? " problem" : ""),
        "data-testid": `file-${f.file}`, dataset: { file: f.file, running: String(!!f.running) },
        title: f.problem || f.description || "",
      },
      h("span", { class: "dot " + (f.problem ? "bad" : f.running ? "up" : "down") }),
      h("span", { class: "name", onclick: () => (f.running && f.lab ? selectLab(f.lab, f.file) : selectFile(f.file)) },
        f.file.replace(/\.ya?ml$/, ""), f.lab ? h("small", {}, ` ${f.lab}`) : null),
      f.problem ? null : h("button", {
        type: "button", class: "small" + (f.running ? "" : " primary"), disabled: busy ? true : null,
        "data-action": f.running ? "down" : "up",
        onclick: (ev) => { ev.stopPropagation(); f.running ? labDown(f.lab, f.file) : labUp(f.file); },
      }, busy ? "…" : f.running ? "down" : "up"));
      files.append(li);
    }
    for (const r of S.labs.running) {
      const selected = isLive() && S.selected.lab === r.lab;
      const busy = jobOf((j) => j.lab === r.lab);
      const li = h("li", {
        class: "tree-item lab" + (selected ? " selected" : ""), "data-testid": `lab-${r.lab}`,
        dataset: { lab: r.lab },
      },
      h("span", { class: "dot up" }),
      h("span", { class: "name", onclick: () => selectLab(r.lab, r.file) }, r.lab,
        h("small", {}, ` ${r.nodes} nodes`)),
      h("button", {
        type: "button", class: "small", "data-action": "down", disabled: busy ? true : null,
        onclick: (ev) => { ev.stopPropagation(); labDown(r.lab, r.file); },
      }, busy ? "…" : "down"));
      running.append(li);
      if (selected && S.topology) li.append(nodeTree(S.topology));
    }
  }

  /** The selected lab's nodes under it in the tree (hypervisors with their bridges). */
  function nodeTree(topology) {
    const ul = h("ul", { class: "tree sub" });
    const children = new Map();
    for (const n of topology.nodes) {
      if (n.parent) {
        if (!children.has(n.parent)) children.set(n.parent, []);
        children.get(n.parent).push(n);
      }
    }
    for (const n of topology.nodes) {
      if (n.parent) continue;
      const li = h("li", {
        class: "tree-item node" + (S.node === n.id ? " selected" : ""), "data-testid": `tree-node-${n.id}`,
      }, h("span", { class: `kind kind-${n.kind}` }), h("span", { class: "name", onclick: () => selectNode(n.id, true) },
        n.label || n.id));
      const kids = (children.get(n.id) || []).filter((c) => c.kind !== "stack");
      if (kids.length) {
        li.append(h("ul", { class: "tree sub" }, kids.map((c) => h("li", { class: "tree-item node" },
          h("span", { class: `kind kind-${c.kind}` }), h("span", { class: "name", onclick: () => selectNode(c.id, true) }, c.label || c.id)))));
      }
      ul.append(li);
    }
    return ul;
  }

  // ------------------------------------------------------------------ jobs (up / down with progress)
  async function labUp(file) {
    try {
      const { job } = await api("POST", "/api/labs", { file });
      track(job, { action: "up", file });
    } catch (err) {
      fail(`up ${file}`, err);
    }
  }

  async function labDown(lab, file) {
    if (S.shell && S.shell.lab === lab) closeShell();
    try {
      const { job } = await api("DELETE", labPath(lab));
      track(job, { action: "down", lab, file });
    } catch (err) {
      fail(`down ${lab}`, err);
    }
  }

  function track(id, what) {
    const job = { id, state: "running", done: 0, total: 0, error: null, ...what };
    S.jobs.set(id, job);
    const row = h("li", { class: "job running", "data-testid": `job-${id}`, dataset: { state: "running" } },
      h("span", { class: "job-what" }, `${what.action} ${what.exercise || what.file || what.lab}`),
      h("progress", { max: 1, value: 0 }),
      h("span", { class: "job-state" }, "starting"));
    $("#jobs").prepend(row);
    while ($("#jobs").children.length > 6) $("#jobs").lastElementChild.remove();
    renderLabs();
    const tick = async () => {
      let info;
      try {
        info = await api("GET", `/api/jobs/${enc(id)}`);
      } catch (err) {
        info = { state: "failed", error: err.message };
      }
      Object.assign(job, info, what); // the server's fields, and what this page asked (a course "start" is an "up" there)
      row.dataset.state = job.state;
      row.className = "job " + job.state;
      const bar = row.querySelector("progress");
      if (job.total) { bar.max = job.total; bar.value = job.done; }
      row.querySelector(".job-state").textContent = job.state === "failed" ? `failed: ${job.error}`
        : job.state === "done" ? "done" : job.total ? `${job.done}/${job.total}` : "working";
      if (job.state === "running") { setTimeout(tick, JOB_MS); return; }
      S.jobs.delete(id);
      await refreshLabs();
      if (job.state === "done" && (job.action === "up" || job.action === "start")) {
        const lab = job.lab || (S.labs.files.find((f) => f.file === job.file) || {}).lab;
        // Show the lab just built when its file (or nothing) was on screen.
        if (lab && (!S.selected || S.selected.file === job.file)) selectLab(lab, job.file);
      }
      if (job.action === "start" && $("#course").dataset.state === "exercise" && $("#course").dataset.exercise === job.exercise) {
        openExercise(job.exercise); // now running: hints, answers and the grade are open
      }
      if (job.state === "failed") status(`${job.action} ${job.exercise || job.file || job.lab} failed: ${job.error}`, "error");
    };
    setTimeout(tick, JOB_MS);
  }

  // ------------------------------------------------------------------ selection and the map
  function clearSelection() {
    stopPolling();
    S.selected = null;
    S.topology = null;
    destroyMap();
    $("#workspace").hidden = true;
    $("#welcome").hidden = false;
    $("#top-lab").textContent = "no lab selected";
    document.title = "vnetlab";
    history.replaceState(null, "", location.pathname);
    renderLabs();
  }

  function selectLab(lab, file) {
    if (isLive() && S.selected.lab === lab) return;
    leaveSelection();
    S.selected = { kind: "lab", lab, file: file || null };
    history.replaceState(null, "", `#lab=${enc(lab)}`);
    enterSelection(`${lab}`, "live");
    startPolling();
  }

  function selectFile(file) {
    if (S.selected && S.selected.kind === "file" && S.selected.file === file) return;
    leaveSelection();
    const entry = S.labs.files.find((f) => f.file === file) || {};
    S.selected = { kind: "file", file, lab: entry.lab || null };
    history.replaceState(null, "", `#file=${enc(file)}`);
    enterSelection(file, "file");
    loadTopology();
  }

  function leaveSelection() {
    stopPolling();
    if (S.capture) stopCaptureTimer();
    S.node = null;
    S.topology = null;
    S.changeKey = null;
    S.checksKey = null;
    S.formsKey = null;
    S.trace = null;
    destroyMap();
    fill($("#trace-result"));
    $("#trace-result").dataset.state = "empty";
    fill($("#reach-grid"));
    $("#reach-status").textContent = "";
    $("#capture-summary").hidden = true;
    $("#capture-download").hidden = true;
    $("#capture-status").textContent = "";
    fill($("#node-panel"), h("p", { class: "hint" }, "Click a node on the map."));
  }

  function enterSelection(title, mode) {
    $("#welcome").hidden = true;
    $("#workspace").hidden = false;
    $("#top-lab").textContent = title;
    document.title = `${title} — vnetlab`;
    $("#map-title").textContent = title;
    const live = $("#map-live");
    live.textContent = mode === "live" ? "live" : "file (not running)";
    live.className = "badge " + (mode === "live" ? "live" : "file");
    document.body.dataset.mode = mode;
    for (const id of ["#checks-run", "#trace-submit", "#reach-run", "#capture-start", "#shell-connect"]) {
      $(id).disabled = mode !== "live";
    }
    renderLabs();
  }

  function destroyMap() {
    if (S.map) {
      if (window.VnetlabTrace) VnetlabTrace.clear(S.map);
      try { if (S.map.cy) S.map.cy.destroy(); } catch (_) { /* already gone */ }
    }
    S.map = null;
    S.mapKey = null;
    const el = $("#map");
    fill(el);
    delete el.dataset.drawn;
    $("#trace-clear").hidden = true;
    fill($("#trace-overlay"));
  }

  /** What the drawn map shows: a new one is drawn when it changes. */
  function mapKey() {
    return `${S.selected.kind}:${S.selected.lab || S.selected.file}:${$("#map-expand").checked}`;
  }

  /** The topology's URL. The first request of a map asks for Graphviz's positions too (a laid-out
   * drawing: the browser's own layout of 1,000 nodes takes seconds); the polls after it do not
   * (the map keeps its nodes where they are). */
  function topologyUrl(first) {
    const query = new URLSearchParams();
    if ($("#map-expand").checked) query.set("expand", "1");
    if (first) query.set("positions", "1");
    const tail = query.toString() ? `?${query}` : "";
    if (isLive()) return `${labPath(S.selected.lab)}/topology${tail}`;
    return `/api/files/${enc(S.selected.file)}/topology${tail}`;
  }

  async function loadTopology() {
    const asked = S.selected;
    if (!asked) return;
    let topo;
    try {
      topo = await api("GET", topologyUrl(!S.map || S.mapKey !== mapKey()));
    } catch (err) {
      if (S.selected !== asked) return;
      showMapError(err.message);
      if (err.status === 404 && isLive()) refreshLabs();
      return;
    }
    if (S.selected !== asked) return; // the user moved on meanwhile
    showMapError(null);
    showTopology(topo);
  }

  function showMapError(text) {
    const el = $("#map-error");
    el.hidden = !text;
    el.textContent = text || "";
  }

  function showTopology(topo) {
    // A new lab, file or expand setting: drawn anew. Otherwise the map updates in place
    // (topology.js keeps the nodes where they are, adds and removes what changed).
    const key = mapKey();
    if (!S.map || S.mapKey !== key) {
      destroyMap();
      draw(topo);
      S.mapKey = key;
    } else {
      S.map.update(topo);
      S.updates += 1;
      $("#map").dataset.updated = String(S.updates);
      if (window.VnetlabTrace) VnetlabTrace.reapply(S.map);
    }
    const first = !S.topology;
    S.topology = topo;
    // The side panels are built when their tab is shown and their part of the topology changed
    // (a 1,000-host lab's 1,000 checks and 2,000 interfaces are not rebuilt every second, nor
    // before the map's first frame).
    const checksKey = JSON.stringify((topo.checks || []).map((c) => [c.ok, c.at, c.observed]));
    if (first || checksKey !== S.checksKey) { S.checksKey = checksKey; S.dirty.add("checks"); }
    const formsKey = topo.nodes.length + ":" + topo.edges.map((e) => e.id).join(",");
    if (first || formsKey !== S.formsKey) { S.formsKey = formsKey; S.dirty.add("forms"); S.dirty.add("capture"); }
    setTimeout(flushPanels, 0);
    if (first) renderLabs();
    liveChange(topo);
    if (S.node && !isLive()) {
      if (topoNode(S.node)) { if (S.tab === "node") renderNodeFromTopology(S.node); }
      else { S.node = null; fill($("#node-panel"), h("p", { class: "hint" }, "Click a node on the map.")); }
    }
  }

  function draw(topo) {
    const el = $("#map");
    if (!window.VnetlabMap) {
      showMapError("topology.js is missing: the map cannot be drawn");
      return;
    }
    const started = performance.now();
    S.map = VnetlabMap.draw(el, topo, { onSelect: (kind, id) => onMapSelect(kind, id) });
    const cy = S.map.cy;
    const nodes = cy.nodes().length;
    let marked = false;
    const mark = () => {
      if (marked || !S.map || S.map.cy !== cy) return;
      marked = true;
      S.drawCount += 1;
      el.dataset.drawn = String(S.drawCount);
      el.dataset.drawnAt = performance.now().toFixed(1); // ms since navigation began
      el.dataset.drawMs = (performance.now() - started).toFixed(1);
      el.dataset.nodes = String(nodes);
      el.dispatchEvent(new CustomEvent("drawn", { detail: { nodes, ms: performance.now() - started } }));
    };
    // The user's own pan and zoom are kept; until there is one, a resized pane (a wider tab) refits.
    S.userMoved = false;
    cy.on("scrollzoom dragpan pinchzoom", () => { S.userMoved = true; });
    // Cytoscape paints in an animation frame; "render" fires once a frame is on the canvas.
    cy.one("render", mark);
    requestAnimationFrame(() => requestAnimationFrame(() => requestAnimationFrame(mark)));
  }

  function onMapSelect(kind, id) {
    if (!id) return;
    if (kind === "edge" || String(id).startsWith("link:")) showEdge(id);
    else selectNode(id, false);
  }

  function fitMap() {
    if (S.map && S.map.cy) { S.map.cy.fit(undefined, 20); S.userMoved = false; }
  }

  // The map's refresh: one request at a time, only while a running lab is shown and the page is seen.
  function startPolling() {
    stopPolling();
    S.polling = true;
    const tick = async () => {
      if (!S.polling) return;
      const began = performance.now();
      if (!document.hidden) await loadTopology();
      // a second from the start of one request to the next (a slow answer does not stretch it)
      if (S.polling) S.pollTimer = setTimeout(tick, Math.max(100, POLL_MS - (performance.now() - began)));
    };
    tick();
  }

  function stopPolling() {
    S.polling = false;
    clearTimeout(S.pollTimer);
    S.pollTimer = null;
  }

  /** Re-runs the checks when the live state (cables, impairments, link state) changed, if asked. */
  function liveChange(topo) {
    if (!isLive()) return;
    const key = JSON.stringify(topo.edges.map((e) => [e.id, e.state || null]));
    const before = S.changeKey;
    S.changeKey = key;
    if (before !== null && before !== key && $("#checks-auto").checked) runChecks();
  }

  // ------------------------------------------------------------------ tabs
  const PANELS = { checks: ["checks"], trace: ["forms"], shell: ["forms"], capture: ["capture"] };

  /** Builds what the shown tab needs of the topology, if it changed since. */
  function flushPanels() {
    const topo = S.topology;
    if (!topo) return;
    for (const part of PANELS[S.tab] || []) {
      if (!S.dirty.has(part)) continue;
      S.dirty.delete(part);
      if (part === "checks") renderChecks(topo);
      else if (part === "forms") refreshForms(topo);
      else if (part === "capture") renderCaptureInterfaces(topo);
    }
  }

  function showTab(name) {
    S.tab = name;
    for (const b of document.querySelectorAll("#tabs [data-tab]")) {
      b.classList.toggle("active", b.dataset.tab === name);
      b.setAttribute("aria-selected", String(b.dataset.tab === name));
    }
    for (const p of document.querySelectorAll(".tab-body")) p.hidden = p.dataset.panel !== name;
    flushPanels();
    if (name === "shell" && S.shell) setTimeout(fitShell, 0);
    if (name === "course") loadCourse();
  }

  // ------------------------------------------------------------------ node panel
  function topoNode(id) {
    return S.topology && S.topology.nodes.find((n) => n.id === id);
  }

  /** The lab node an element of the map stands for ("pve/vmbr0" and "pve/@" are pve's). */
  function labNodeOf(id) {
    const n = topoNode(id);
    if (n && n.kind === "group") return null;
    return String(id).split("/")[0];
  }

  function selectNode(id, fromTree) {
    S.node = id;
    showTab("node");
    if (S.map && S.map.cy && fromTree) {
      const ele = S.map.cy.getElementById(id);
      if (ele.nonempty()) { S.map.cy.elements().unselect(); ele.select(); }
    }
    renderLabs();
    const node = labNodeOf(id);
    const n = topoNode(id);
    if (n && n.kind === "group") return renderGroup(n);
    if (!isLive() || !node) return renderNodeFromTopology(id);
    renderNodeLoading(node);
    loadNode(node);
  }

  function renderNodeLoading(node) {
    fill($("#node-panel"), h("h2", {}, node), h("p", { class: "hint" }, "reading the node…"));
    $("#node-panel").dataset.node = node;
    $("#node-panel").dataset.state = "loading";
  }

  async function loadNode(node) {
    const lab = currentLab();
    let info;
    try {
      info = await api("GET", `${labPath(lab)}/nodes/${enc(node)}`);
    } catch (err) {
      if (labNodeOf(S.node) !== node) return;
      fill($("#node-panel"), h("h2", {}, node), h("p", { class: "error" }, err.message));
      $("#node-panel").dataset.state = "error";
      return;
    }
    if (labNodeOf(S.node) !== node || currentLab() !== lab) return;
    renderNode(info);
  }

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

  function renderNode(info) {
    const panel = $("#node-panel");
    panel.dataset.node = info.node;
    panel.dataset.state = "shown";
    const fwd = info.forwarding || {};
    const ifaces = info.interfaces || [];
    fill(panel,
      h("div", { class: "panel-head" },
        h("h2", {}, info.node, h("small", {}, ` ${info.kind || ""}`)),
        h("span", { class: "spacer" }),
        h("button", { type: "button", class: "small", onclick: () => loadNode(info.node) }, "refresh"),
        h("button", { type: "button", class: "small", onclick: () => openShell(info.node) }, "shell"),
        h("button", { type: "button", class: "small", onclick: () => traceFrom(info.node) }, "trace from here")),
      section("Interfaces", table(["name", "kind", "state", "addresses", "mac", "mtu", "master"],
        ifaces.map((i) => [i.name, i.kind, h("span", { class: "state " + String(i.state || "").toLowerCase() }, i.state || ""),
          (i.addresses || []).join(" "), i.mac, i.mtu, i.master]), { id: "node-interfaces" })),
      section("Routes", pre((info.routes || []).join("\n"))),
      section("Forwarding", h("p", { class: "kv" },
        h("span", { class: fwd.ipv4 ? "on" : "off" }, `IPv4 ${fwd.ipv4 ? "on" : "off"}`), " ",
        h("span", { class: fwd.ipv6 ? "on" : "off" }, `IPv6 ${fwd.ipv6 ? "on" : "off"}`))),
      section("Firewall (nft ruleset)", pre(info.nft)),
      info.ovs ? section("Open vSwitch flows", ovsView(info.ovs)) : null,
      info.services && info.services.length ? section("Services", table(["service", "state", "pid"],
        info.services.map((v) => [v.listen ? `listen ${v.listen}` : (v.command || []).join(" ") + (v.oneshot ? " (once)" : ""),
          h("span", { class: "state " + (v.running ? "up" : "down") }, v.state || (v.running ? "running" : "stopped")), v.pid]))) : null,
      section("Listening sockets", table(["proto", "local", "state", "process"],
        (info.sockets || []).map((s) => [s.proto, s.local, s.state, s.process]))),
      section("Processes", table(["pid", "command"], (info.processes || []).map((p) => [p.pid, p.command]))),
    );
  }

  /** Each OVS bridge's flows with their counters (the node's ovs-ofctl dump-flows). */
  function ovsView(ovs) {
    if (typeof ovs !== "object") return pre(String(ovs));
    return h("div", {}, Object.entries(ovs).map(([bridge, info]) => h("div", { class: "ovs-bridge", "data-bridge": bridge },
      h("b", {}, bridge),
      table(["flow", "packets", "bytes"], ((info && info.flows) || []).map((f) => (typeof f === "string" ? [f, "", ""]
        : [h("code", {}, f.flow), f.n_packets, f.n_bytes]))))));
  }

  /** A node of a lab that is not running: what the file says (no kernel to read). */
  function renderNodeFromTopology(id) {
    const n = topoNode(id);
    const panel = $("#node-panel");
    panel.dataset.node = id;
    panel.dataset.state = "file";
    if (!n) { fill(panel, h("p", { class: "hint" }, `${id}: not in this topology`)); return; }
    const ends = [];
    for (const e of (S.topology.edges || [])) {
      for (const end of e.ends || []) if (end.node === labNodeOf(id)) ends.push([end.interface, (end.addresses || []).join(" "), e.label || "", end.vlan || end.trunk || ""]);
    }
    fill(panel,
      h("h2", {}, n.label || n.id, h("small", {}, ` ${n.kind}`)),
      isLive() ? null : h("p", { class: "hint" }, "The lab is not running: this is what its file says. Press up to read the kernel."),
      n.addresses && n.addresses.length ? section("Addresses", pre(n.addresses.join("\n"))) : null,
      section("Links", table(["interface", "addresses", "link", "vlan"], ends)),
      n.details && n.details.length ? section("Details", pre(n.details.join("\n"))) : null);
  }

  function renderGroup(n) {
    const panel = $("#node-panel");
    panel.dataset.node = n.id;
    panel.dataset.state = "group";
    fill(panel, h("h2", {}, n.label), h("p", { class: "hint" }, "Folded into one node; tick “expand groups” to draw them all."),
      h("ul", { class: "members" }, (n.members || []).map((m) => h("li", {}, isLive()
        ? h("a", { href: "#", onclick: (ev) => { ev.preventDefault(); S.node = m; renderNodeLoading(m); loadNode(m); } }, m)
        : m))));
  }

  function showEdge(id) {
    const e = S.topology && S.topology.edges.find((x) => x.id === id);
    if (!e) return;
    showTab("node");
    const panel = $("#node-panel");
    panel.dataset.node = id;
    panel.dataset.state = "edge";
    const st = e.state || {};
    const impaired = st.impaired ? Object.entries(st.impaired).map(([end, v]) => `${end}: ${v.text || JSON.stringify(v)}${v.mechanism ? ` (${v.mechanism})` : ""}`) : [];
    fill(panel,
      h("h2", {}, e.label || id, h("small", {}, ` ${id}`)),
      table(["end", "interface", "addresses", "vlan", "trunk", "bond"], (e.ends || []).map((end) => [end.node, end.interface + (end.tap ? " (tap)" : ""), (end.addresses || []).join(" "), end.vlan, end.trunk ? JSON.stringify(end.trunk) : "", end.bond])),
      e.state ? h("p", { class: "kv" },
        h("span", { class: st.cut ? "off" : "on" }, st.cut ? "cable cut" : "cable in"), " ",
        h("span", { class: st.up ? "on" : "off" }, st.up ? "link up" : "link down"), " ",
        impaired.length ? h("span", { class: "warn" }, "impaired: " + impaired.join("; ")) : null) : null,
      isLive() ? h("p", { class: "hint" }, `From a shell: vnetlab link ${S.selected.lab} ${(e.ends || [])[0] ? e.ends[0].node + ":" + e.ends[0].interface : ""} down|up`) : null);
  }

  // ------------------------------------------------------------------ checks (table + colours on the map)
  async function runChecks() {
    if (!isLive() || S.checksRunning) return;
    const lab = currentLab();
    S.checksRunning = true;
    $("#checks-run").disabled = true;
    $("#checks").dataset.state = "running";
    $("#checks-summary").textContent = "running…";
    try {
      const res = await api("POST", `${labPath(lab)}/checks`);
      if (currentLab() !== lab) return;
      S.lastChecks = res;
      $("#checks-summary").textContent = `${res.passed} passed, ${res.failed} failed`;
      renderChecksFrom(res.results || []);
      await loadTopology(); // the map's colours come with the topology (the last results)
    } catch (err) {
      $("#checks-summary").textContent = "";
      fail("checks", err);
    } finally {
      S.checksRunning = false;
      $("#checks-run").disabled = !isLive();
      $("#checks").dataset.state = "done";
    }
  }

  /** The table from the topology's checks (the last run, whoever ran it: this page or `vnetlab check`). */
  function renderChecks(topo) {
    const checks = topo.checks || [];
    $("#checks-none").hidden = checks.length > 0;
    renderChecksFrom(checks.map((c) => ({
      index: c.index, check: c.label, kind: c.kind, observed: c.observed, ok: c.ok, detail: c.detail, at: c.at,
      expect: expectOf(c.index),
    })));
    const ran = checks.filter((c) => c.ok !== null && c.ok !== undefined);
    if (ran.length && !S.checksRunning) {
      const failed = ran.filter((c) => !c.ok).length;
      $("#checks-summary").textContent = `${ran.length - failed} passed, ${failed} failed` + (ran[0].at ? ` (${timeOf(ran[0].at)})` : "");
    }
  }

  function expectOf(index) {
    const r = S.lastChecks && (S.lastChecks.results || []).find((x) => x.index === index);
    return r ? r.expect : undefined;
  }

  function timeOf(at) {
    const d = new Date(at);
    return isNaN(d) ? at : d.toLocaleTimeString();
  }

  function renderChecksFrom(rows) {
    const body = $("#checks-table tbody");
    fill(body, ...rows.map((r, i) => {
      const index = r.index !== undefined ? r.index : i;
      const state = r.ok === true ? "pass" : r.ok === false ? "fail" : "unknown";
      return h("tr", { class: state, "data-testid": `check-${index}`, dataset: { index: String(index), ok: state } },
        h("td", {}, String(index)),
        h("td", { title: r.detail || "" }, r.check || r.label || ""),
        h("td", {}, r.expect === undefined || r.expect === null ? "" : String(r.expect)),
        h("td", { title: r.detail || "" }, r.observed === undefined || r.observed === null ? "—" : String(r.observed),
          r.detail ? h("div", { class: "detail" }, r.detail) : null),
        h("td", { class: "verdict" }, state === "pass" ? "✔" : state === "fail" ? "✘" : "·"));
    }));
  }

  // ------------------------------------------------------------------ forms fed by the topology
  function labNodes(topo) {
    const names = [];
    for (const n of topo.nodes) {
      if (n.kind === "group") { for (const m of n.members || []) names.push(m); continue; }
      if (n.parent || n.kind === "stack") continue;
      names.push(n.id);
    }
    return names;
  }

  function fillSelect(sel, values, keep) {
    const before = sel.value;
    const same = sel.options.length === values.length && [...sel.options].every((o, i) => o.value === values[i]);
    if (!same) fill(sel, ...values.map((v) => h("option", { value: v }, v)));
    if (keep && values.includes(before)) sel.value = before;
  }

  function refreshForms(topo) {
    const nodes = labNodes(topo);
    const hosts = nodes.filter((n) => { const t = topoNode(n); return !t || t.kind !== "switch"; });
    fillSelect($("#trace-from"), hosts, true);
    fillSelect($("#shell-node"), hosts, true);
    fill($("#trace-targets"), ...hosts.map((n) => h("option", { value: n })));
  }

  // ------------------------------------------------------------------ trace
  async function submitTrace(ev) {
    ev.preventDefault();
    if (!isLive()) return;
    const lab = currentLab();
    const body = {
      from: $("#trace-from").value, to: $("#trace-to").value.trim(), proto: $("#trace-proto").value,
    };
    const port = $("#trace-port").value.trim();
    if (port) body.port = Number(port);
    const out = $("#trace-result");
    out.dataset.state = "running";
    fill(out, h("p", { class: "hint" }, `tracing ${body.from} → ${body.to} ${body.proto}${port ? " " + port : ""}…`));
    $("#trace-submit").disabled = true;
    try {
      const result = await api("POST", `${labPath(lab)}/trace`, body);
      if (currentLab() !== lab) return;
      S.trace = result;
      drawTrace(result);
    } catch (err) {
      out.dataset.state = "error";
      fill(out, h("p", { class: "error" }, err.message));
    } finally {
      $("#trace-submit").disabled = !isLive();
    }
  }

  function drawTrace(result) {
    const out = $("#trace-result");
    const stopped = ["dropped", "refused", "lost"].includes(result.result);
    out.dataset.result = result.result;
    out.dataset.by = result.by || "";
    if (S.map) S.map.cy.elements().unselect(); // the path stands out alone
    const hops = S.map && window.VnetlabTrace
      ? VnetlabTrace.show(S.map, S.topology, result, {
        overlay: $("#trace-overlay"),
        onDone: () => { out.dataset.state = "done"; },
      })
      : (window.VnetlabTrace ? VnetlabTrace.hopsOf(result) : []);
    if (!S.map) out.dataset.state = "done";
    $("#trace-clear").hidden = false;
    const list = h("ol", { class: "hops", id: "trace-hops" }, hops.map((hop) => h("li", {
      class: hop.dropped ? "drop" : "hop", dataset: { node: hop.node },
      onmouseenter: () => flash(hop.node, true), onmouseleave: () => flash(hop.node, false),
    }, h("b", {}, hop.node), hop.reason ? h("span", { class: "reason" }, " — " + hop.reason) : null)));
    const pathText = typeof result.path === "string" ? result.path : result.path_line || "";
    fill(out,
      h("p", { class: "verdict " + (stopped ? "fail" : "pass"), id: "trace-verdict" },
        h("b", {}, result.result), result.by ? ` at ${result.by}` : "", result.reason ? ` — ${result.reason}` : ""),
      pathText ? h("p", { class: "path" }, pathText) : null,
      list,
      result.reply_path ? h("p", { class: "path" }, "reply: " + result.reply_path) : null,
      result.text ? h("details", { class: "section" }, h("summary", {}, "full trace (as vnetlab trace prints it)"), pre(result.text)) : null);
  }

  function flash(node, on) {
    if (!S.map) return;
    const ele = S.map.cy.getElementById(node);
    if (ele.nonempty()) { if (on) ele.select(); else ele.unselect(); }
  }

  function clearTrace() {
    if (S.map && window.VnetlabTrace) VnetlabTrace.clear(S.map);
    S.trace = null;
    $("#trace-clear").hidden = true;
    fill($("#trace-result"));
    $("#trace-result").dataset.state = "empty";
  }

  function traceFrom(node) {
    showTab("trace");
    $("#trace-from").value = node;
    $("#trace-to").focus();
  }

  // ------------------------------------------------------------------ reach matrix
  async function runReach(ev) {
    ev.preventDefault();
    if (!isLive()) return;
    const lab = currentLab();
    const body = { proto: $("#reach-proto").value };
    const port = $("#reach-port").value.trim();
    if (body.proto === "tcp") body.port = Number(port || 22);
    $("#reach").dataset.state = "running";
    $("#reach-status").textContent = "probing every pair…";
    $("#reach-run").disabled = true;
    try {
      const m = await api("POST", `${labPath(lab)}/reach`, body);
      if (currentLab() !== lab) return;
      renderReach(m);
      $("#reach").dataset.state = "done";
    } catch (err) {
      $("#reach-status").textContent = "";
      $("#reach").dataset.state = "error";
      fail("reach", err);
    } finally {
      $("#reach-run").disabled = !isLive();
    }
  }

  function renderReach(m) {
    $("#reach-status").textContent = `${m.reachable} of ${m.pairs} pairs reach (${m.proto}${m.port ? " " + m.port : ""}, ${m.seconds} s)`;
    const nodes = m.nodes || [];
    const head = h("tr", {}, h("th", { class: "corner" }, "from \\ to"), nodes.map((t) => h("th", { class: "col", title: m.addresses ? m.addresses[t] : "" }, h("span", {}, t))));
    const rows = nodes.map((s) => h("tr", {}, h("th", { class: "row", title: m.addresses ? m.addresses[s] : "" }, s), nodes.map((t) => {
      const c = m.matrix && m.matrix[s] && m.matrix[s][t];
      if (!c) return h("td", { class: "self" }, "");
      return h("td", { class: c.ok ? "ok" : "no", "data-testid": `reach-${s}-${t}`, title: `${s} → ${t} ${c.address || ""}: ${c.detail || (c.ok ? "reached" : "no answer")}` }, c.ok ? "✔" : "✘");
    })));
    fill($("#reach-grid"), h("table", { class: "matrix", id: "reach-matrix" }, h("thead", {}, head), h("tbody", {}, rows)));
  }

  // ------------------------------------------------------------------ capture
  function renderCaptureInterfaces(topo) {
    const box = $("#capture-ifaces");
    const ticked = new Set([...box.querySelectorAll("input:checked")].map((i) => i.value));
    const seen = new Set();
    const byNode = new Map();
    for (const e of topo.edges || []) {
      for (const end of e.ends || []) {
        const name = `${end.node}:${end.interface}`;
        if (seen.has(name)) continue;
        seen.add(name);
        if (!byNode.has(end.node)) byNode.set(end.node, []);
        byNode.get(end.node).push(end.interface);
      }
    }
    fill(box, ...[...byNode.entries()].map(([node, ifs]) => h("div", { class: "check-row" },
      h("b", {}, node), ifs.map((i) => h("label", { class: "inline" },
        h("input", { type: "checkbox", value: `${node}:${i}`, "data-testid": `capture-if-${node}:${i}`,
          checked: ticked.has(`${node}:${i}`) ? true : null }), i)))));
  }

  async function startCapture() {
    if (!isLive()) return;
    const lab = currentLab();
    const interfaces = [...document.querySelectorAll("#capture-ifaces input:checked")].map((i) => i.value);
    if (!interfaces.length) { $("#capture-status").textContent = "tick at least one interface"; return; }
    const body = { interfaces };
    const filter = $("#capture-filter").value.trim();
    if (filter) body.filter = filter;
    try {
      const { id } = await api("POST", `${labPath(lab)}/captures`, body);
      S.capture = { id, lab, timer: null };
      $("#capture").dataset.state = "running";
      $("#capture").dataset.id = id;
      $("#capture-start").disabled = true;
      $("#capture-stop").disabled = false;
      $("#capture-download").hidden = true;
      $("#capture-summary").hidden = true;
      $("#capture-status").textContent = `capturing on ${interfaces.join(", ")}…`;
      pollCapture();
    } catch (err) {
      fail("capture", err);
    }
  }

  function pollCapture() {
    const cap = S.capture;
    if (!cap) return;
    cap.timer = setTimeout(async () => {
      if (S.capture !== cap) return;
      try {
        const info = await api("GET", `${labPath(cap.lab)}/captures/${enc(cap.id)}`);
        if (S.capture !== cap) return;
        $("#capture-status").textContent = `${info.running ? "capturing" : "stopped"}: ${info.packets} packets`;
        $("#capture").dataset.packets = String(info.packets);
        if (info.running) pollCapture();
      } catch (err) {
        fail("capture", err);
      }
    }, CAPTURE_MS);
  }

  function stopCaptureTimer() {
    if (S.capture) clearTimeout(S.capture.timer);
    S.capture = null;
    $("#capture-start").disabled = !isLive();
    $("#capture-stop").disabled = true;
  }

  async function stopCapture() {
    const cap = S.capture;
    if (!cap) return;
    clearTimeout(cap.timer);
    $("#capture-stop").disabled = true;
    try {
      const info = await api("POST", `${labPath(cap.lab)}/captures/${enc(cap.id)}/stop`);
      $("#capture-status").textContent = `stopped: ${info.packets} packets`;
      $("#capture").dataset.packets = String(info.packets);
      if (info.summary) { $("#capture-summary").textContent = info.summary; $("#capture-summary").hidden = false; }
      const link = $("#capture-download");
      link.href = `${labPath(cap.lab)}/captures/${enc(cap.id)}/file`;
      link.setAttribute("download", `${cap.lab}-${cap.id}.pcapng`);
      link.hidden = false;
      $("#capture").dataset.state = "stopped";
    } catch (err) {
      fail("capture", err);
    } finally {
      S.capture = null;
      $("#capture-start").disabled = !isLive();
    }
  }

  // ------------------------------------------------------------------ shell (xterm.js over the websocket)
  function openShell(node) {
    showTab("shell");
    $("#shell-node").value = node;
    connectShell(node);
  }

  const scripts = new Map();
  /** Loads a script of /static once (xterm.js waits until a shell is opened: half the page's weight). */
  function loadScript(src) {
    if (!scripts.has(src)) {
      scripts.set(src, new Promise((resolve, reject) => {
        const el = h("script", { src });
        el.onload = resolve;
        el.onerror = () => { scripts.delete(src); reject(new Error(`cannot load ${src}`)); };
        document.head.append(el);
      }));
    }
    return scripts.get(src);
  }

  async function connectShell(node) {
    if (!isLive()) return;
    closeShell();
    const lab = currentLab();
    try {
      await loadScript("/static/vendor/xterm.js");
      await loadScript("/static/vendor/xterm-addon-fit.js");
    } catch (err) {
      fail("shell", err);
      return;
    }
    if (currentLab() !== lab) return;
    closeShell();
    const holder = $("#shell-term");
    fill(holder);
    const term = new window.Terminal({
      cursorBlink: true, fontSize: 13, scrollback: 2000,
      fontFamily: "'DejaVu Sans Mono', 'Liberation Mono', monospace",
      theme: { background: "#1e1e1e" },
    });
    const fit = new window.FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(holder);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}${labPath(lab)}/nodes/${enc(node)}/shell`);
    ws.binaryType = "arraybuffer";
    const shell = { ws, term, fit, node, lab, observer: null };
    S.shell = shell;
    const st = $("#shell-status");
    st.textContent = `connecting to ${node}…`;
    st.dataset.state = "connecting";
    const encoder = new TextEncoder();
    const resize = () => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ resize: [term.cols, term.rows] }));
    };
    ws.onopen = () => {
      if (S.shell !== shell) return;
      st.textContent = `${lab} ${node}`;
      st.dataset.state = "open";
      fitShell();
      resize();
      term.focus();
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data === "string") term.write(ev.data);
      else term.write(new Uint8Array(ev.data));
    };
    ws.onclose = (ev) => {
      if (S.shell !== shell) return;
      st.textContent = `closed${ev.reason ? ": " + ev.reason : ""}`;
      st.dataset.state = "closed";
      term.write("\r\n\x1b[2m[connection closed]\x1b[0m\r\n");
      $("#shell-disconnect").disabled = true;
    };
    term.onData((data) => { if (ws.readyState === WebSocket.OPEN) ws.send(encoder.encode(data)); });
    term.onBinary((data) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      const bytes = new Uint8Array(data.length);
      for (let i = 0; i < data.length; i++) bytes[i] = data.charCodeAt(i) & 0xff;
      ws.send(bytes);
    });
    term.onResize(resize);
    if (window.ResizeObserver) {
      shell.observer = new ResizeObserver(() => fitShell());
      shell.observer.observe(holder);
    }
    $("#shell-disconnect").disabled = false;
    fitShell();
  }

  function fitShell() {
    const shell = S.shell;
    if (!shell || S.tab !== "shell") return;
    const holder = $("#shell-term");
    if (!holder.offsetWidth || !holder.offsetHeight) return;
    try { shell.fit.fit(); } catch (_) { /* not laid out yet */ }
  }

  function closeShell() {
    const shell = S.shell;
    if (!shell) return;
    S.shell = null;
    if (shell.observer) shell.observer.disconnect();
    try { shell.ws.close(); } catch (_) { /* closed already */ }
    shell.term.dispose();
    $("#shell-status").textContent = "closed";
    $("#shell-status").dataset.state = "closed";
    $("#shell-disconnect").disabled = true;
  }

  /** The terminal's text (for tests): every line of the buffer. */
  function shellText() {
    const shell = S.shell;
    if (!shell) return "";
    const buffer = shell.term.buffer.active;
    const lines = [];
    for (let i = 0; i < buffer.length; i++) {
      const line = buffer.getLine(i);
      if (line) lines.push(line.translateToString(true));
    }
    return lines.join("\n");
  }

  // ------------------------------------------------------------------ course
  async function loadCourse() {
    const box = $("#course");
    if (box.dataset.state === "exercise") return; // an exercise is open: keep it
    let listing;
    try {
      listing = await api("GET", "/api/course");
    } catch (err) {
      box.dataset.state = err.status === 404 ? "absent" : "error";
      fill(box, h("p", { class: err.status === 404 ? "hint" : "error" }, err.status === 404 ? "This server has no course." : err.message));
      return;
    }
    const exercises = listing.exercises || [];
    box.dataset.state = "list";
    fill(box,
      h("p", { class: "hint" }, `The course's exercises (student ${listing.student || "?"}). Pick one to read it, start it, ask for a hint, grade it.`),
      table(["exercise", "section", "title", "status", "points"], exercises.map((x) => [
        h("a", { href: "#", "data-testid": `exercise-${x.id}`, onclick: (ev) => { ev.preventDefault(); openExercise(x.id); } }, x.id),
        x.section, x.title, h("span", { class: "status-" + String(x.status).replace(/\s+/g, "-") }, x.status),
        x.total ? `${x.points === null || x.points === undefined ? "–" : x.points}/${x.total}` : ""])));
  }

  async function openExercise(id) {
    const box = $("#course");
    box.dataset.state = "exercise";
    fill(box, h("p", { class: "hint" }, `loading ${id}…`));
    let ex;
    try {
      ex = await api("GET", `/api/course/${enc(id)}`);
    } catch (err) {
      fill(box, backToCourse(), h("p", { class: "error" }, err.message));
      return;
    }
    renderExercise(ex);
  }

  function backToCourse() {
    return h("a", { href: "#", class: "back", onclick: (ev) => { ev.preventDefault(); $("#course").dataset.state = "list"; loadCourse(); } }, "← all exercises");
  }

  function renderExercise(ex) {
    const box = $("#course");
    box.dataset.exercise = ex.id;
    box.dataset.lab = ex.lab || "";
    box.dataset.running = String(!!ex.running);
    const used = ex.hints_shown || {};
    const hints = h("ol", { class: "hints", id: "course-hints" });
    const grade = h("div", { id: "course-grade" }, ex.grade ? lastGradeView(ex.grade) : null);
    const taskTitle = (tid) => { const t = (ex.tasks || []).find((x) => x.id === tid); return t ? t.title : tid; };
    fill(box,
      backToCourse(),
      h("h2", {}, ex.title || ex.id, h("small", {}, ` ${ex.section || ""}`)),
      ex.summary ? h("p", { class: "hint" }, ex.summary) : null,
      h("div", { class: "exercise-text", id: "course-text" }, prose(ex.text)),
      section("Tasks", h("ol", { class: "tasks" }, (ex.tasks || []).map((t) => h("li", { "data-task": t.id },
        h("b", {}, t.title), h("small", {}, ` ${t.points} point${t.points === 1 ? "" : "s"}` + (used[t.id] ? `, ${used[t.id]} of ${t.hints} hints used` : t.hints ? `, ${t.hints} hints` : "")),
        t.text ? h("div", { class: "exercise-text" }, prose(t.text)) : null,
        t.question ? answerForm(ex, t) : null)))),
      section("Hints", hints),
      h("div", { class: "toolbar" },
        ex.running ? h("button", { type: "button", class: "small", onclick: () => showLabOf(ex.lab) }, `show lab ${ex.lab}`)
          : h("button", { type: "button", class: "primary", id: "course-start", onclick: async () => {
            try { const { job } = await api("POST", `/api/course/${enc(ex.id)}/start`); track(job, { action: "start", lab: ex.lab, exercise: ex.id }); } catch (err) { fail("start", err); }
          } }, "start"),
        h("button", { type: "button", id: "course-hint", disabled: ex.running ? null : true, onclick: async () => {
          try {
            const r = await api("POST", `/api/course/${enc(ex.id)}/hint`);
            hints.append(h("li", {}, h("b", {}, `${taskTitle(r.task)} (${r.number}/${r.count}): `), r.hint));
          } catch (err) { hints.append(h("li", { class: "error" }, err.message)); }
        } }, "next hint"),
        h("button", { type: "button", class: ex.running ? "primary" : "", id: "course-grade-run", disabled: ex.running ? null : true, onclick: async () => {
          fill(grade, h("p", { class: "hint" }, "grading…"));
          try { fill(grade, gradeView(await api("POST", `/api/course/${enc(ex.id)}/grade`))); } catch (err) { fill(grade, h("p", { class: "error" }, err.message)); }
        } }, "grade")),
      grade);
  }

  /** An exercise's text (Markdown-like) as paragraphs, list items and `code`: never as HTML. */
  function prose(text) {
    const inline = (line) => line.split(/(`[^`]+`)/).map((part) => (part.startsWith("`") && part.endsWith("`") && part.length > 1
      ? h("code", {}, part.slice(1, -1)) : part));
    const blocks = String(text || "").trim().split(/\n\s*\n/);
    return h("div", { class: "prose" }, blocks.map((block) => {
      const lines = block.split("\n");
      if (lines.every((l) => /^\s*([-*]|\d+\.)\s/.test(l))) {
        return h("ul", {}, lines.map((l) => h("li", {}, inline(l.replace(/^\s*([-*]|\d+\.)\s+/, "")))));
      }
      if (lines.every((l) => /^( {4}|\t|\$ |# )/.test(l))) return h("pre", { class: "out" }, block);
      return h("p", {}, inline(lines.map((l) => l.trim()).join(" ")));
    }));
  }

  /** A question task's answer box (recorded; the next grade marks it). */
  function answerForm(ex, task) {
    const input = h("input", { type: "text", maxlength: 200, placeholder: "your answer", "data-testid": `answer-${task.id}` });
    const said = h("span", { class: "summary" });
    return h("form", { class: "answer", onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        const r = await api("POST", `/api/course/${enc(ex.id)}/answer`, { task: task.id, value: input.value.trim() });
        said.textContent = `recorded: ${r.value} (grade to check it)`;
      } catch (err) { said.textContent = err.message; }
    } }, input, h("button", { type: "submit", class: "small", disabled: ex.running ? null : true }, "answer"), " ", said);
  }

  function showLabOf(lab) {
    const r = S.labs.running.find((x) => x.lab === lab);
    if (r) selectLab(r.lab, r.file);
  }

  function lastGradeView(g) {
    return h("p", { class: "verdict " + (g.points === g.total ? "pass" : "fail") },
      `last grade: ${g.points}/${g.total} points` + (g.at ? ` (${timeOf(g.at)})` : ""));
  }

  function gradeView(g) {
    return h("div", {},
      h("p", { class: "verdict " + (g.passed ? "pass" : "fail"), id: "course-score" }, `${g.points}/${g.total} points` + (g.hints_used ? `, ${g.hints_used} hints used` : "")),
      table(["task", "points", "", "feedback"], (g.tasks || []).map((t) => [t.title || t.id, `${t.points}/${t.max}`,
        h("span", { class: t.ok ? "on" : "off" }, t.ok ? "✔" : "✘"), t.feedback || ""])));
  }

  // ------------------------------------------------------------------ start
  /** The map's pane changed size (the window, a wider tab): cytoscape must be told. */
  function mapResized() {
    if (!S.map || !S.map.cy) return;
    S.map.cy.resize();
    if (!S.userMoved) S.map.cy.fit(undefined, 20);
    if (window.VnetlabTrace) VnetlabTrace.reapply(S.map);
  }

  function wire() {
    for (const b of document.querySelectorAll("#tabs [data-tab]")) b.addEventListener("click", () => showTab(b.dataset.tab));
    $("#checks-run").addEventListener("click", runChecks);
    $("#trace-form").addEventListener("submit", submitTrace);
    $("#trace-proto").addEventListener("change", () => {
      const p = $("#trace-proto").value;
      $("#trace-port").disabled = p === "icmp";
      if (p === "icmp") $("#trace-port").value = "";
    });
    $("#trace-port").disabled = true;
    $("#trace-clear").addEventListener("click", clearTrace);
    $("#reach-form").addEventListener("submit", runReach);
    $("#reach-proto").addEventListener("change", () => { $("#reach-port").disabled = $("#reach-proto").value !== "tcp"; });
    $("#reach-port").disabled = true;
    $("#capture-start").addEventListener("click", startCapture);
    $("#capture-stop").addEventListener("click", stopCapture);
    $("#shell-connect").addEventListener("click", () => connectShell($("#shell-node").value));
    $("#shell-disconnect").addEventListener("click", closeShell);
    $("#map-fit").addEventListener("click", fitMap);
    $("#map-expand").addEventListener("change", () => { S.mapKey = null; loadTopology(); });
    document.addEventListener("visibilitychange", () => { if (!document.hidden && isLive()) loadTopology(); });
    window.addEventListener("resize", () => { fitShell(); });
    if (window.ResizeObserver) new ResizeObserver(() => requestAnimationFrame(mapResized)).observe($("#map-wrap"));
  }

  async function start() {
    wire();
    showTab("node");
    await refreshLabs();
    const want = new URLSearchParams(location.hash.slice(1));
    if (want.get("expand") === "1") $("#map-expand").checked = true;
    if (want.get("lab") && S.labs.running.some((r) => r.lab === want.get("lab"))) {
      const r = S.labs.running.find((x) => x.lab === want.get("lab"));
      selectLab(r.lab, r.file);
    } else if (want.get("file") && S.labs.files.some((f) => f.file === want.get("file"))) {
      const f = S.labs.files.find((x) => x.file === want.get("file"));
      if (f.running && f.lab && !want.get("static")) selectLab(f.lab, f.file);
      else selectFile(f.file);
    }
    if (want.get("tab")) showTab(want.get("tab"));
    setInterval(() => { if (!document.hidden) refreshLabs(); }, LABS_MS);
  }

  window.vnetlab = {
    state: S, api, shellText, selectLab, selectFile, selectNode, showTab, runChecks, drawTrace, clearTrace,
    get map() { return S.map; }, get topology() { return S.topology; },
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
