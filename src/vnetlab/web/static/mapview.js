/* vnetlab web: the map pane: what is selected, the map drawn with topology.js, its 1 s polling. */
(function (V) {
  "use strict";
  const { $, h, fill, S, isLive, api, enc, labPath } = V;
  const POLL_MS = 1000; // the map's refresh: a change made from a shell shows within 2 s

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
    V.renderLabs();
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
    if (S.capture) V.stopCaptureTimer();
    S.node = null;
    S.topology = null;
    S.changeKey = null;
    S.checksKey = null;
    S.formsKey = null;
    S.trace = null;
    S.lastChecks = null; // another lab's run: its summary and expectations are not this lab's
    $("#checks-summary").textContent = "";
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
    V.renderLabs();
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
      if (err.status === 404 && isLive()) V.refreshLabs();
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
    setTimeout(V.flushPanels, 0);
    if (first) V.renderLabs();
    liveChange(topo);
    if (S.node && !isLive()) {
      if (V.topoNode(S.node)) { if (S.tab === "node") V.renderNodeFromTopology(S.node); }
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
    if (kind === "edge" || String(id).startsWith("link:")) V.showEdge(id);
    else V.selectNode(id, false);
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
    if (before !== null && before !== key && $("#checks-auto").checked) V.runChecks();
  }

  /** The map's pane changed size (the window, a wider tab): cytoscape must be told. */
  function mapResized() {
    if (!S.map || !S.map.cy) return;
    S.map.cy.resize();
    if (!S.userMoved) S.map.cy.fit(undefined, 20);
    if (window.VnetlabTrace) VnetlabTrace.reapply(S.map);
  }

  Object.assign(V, { clearSelection, selectLab, selectFile, loadTopology, fitMap, mapResized });
})(window.VnetlabPage = window.VnetlabPage || {});
