/* vnetlab web: the page. Plain JS, no build step; it talks only to this server's /api (see the
 * HTTP API in the contract) and draws the map with topology.js (VnetlabMap) and trace.js.
 *
 * Layout as in Proxmox: the tree of lab files and running labs on the left, the map in the middle,
 * the tabs (node, checks, trace, reach, capture, shell, course) on the right, the task log below.
 * Tests and the benchmark read window.vnetlab and the data-* attributes set here.
 *
 * One script per view, loaded by index.html in this order, each adding what the others call to
 * window.VnetlabPage (V): core.js (DOM helpers, the state S), api.js (the /api calls, errors),
 * labs.js (the tree, up/down jobs, the task log), mapview.js (the map pane, its polling), node.js
 * (the node/link/group panel), checks.js, forms.js (the node pickers), tracing.js (the trace form),
 * reach.js, capture.js, shell.js, course.js, and this one last: the tabs, the wiring, the start.
 * A view calls another's functions as V.name() (looked up when called, so the order of the files
 * matters only for core.js and api.js, whose helpers each file takes when it loads).
 */
(function (V) {
  "use strict";
  const { $, S, isLive, api } = V;
  const LABS_MS = 3000; // the tree's refresh (labs brought up or down elsewhere)

  // ------------------------------------------------------------------ tabs
  const PANELS = { checks: ["checks"], trace: ["forms"], shell: ["forms"], capture: ["capture"] };

  /** Builds what the shown tab needs of the topology, if it changed since. */
  function flushPanels() {
    const topo = S.topology;
    if (!topo) return;
    for (const part of PANELS[S.tab] || []) {
      if (!S.dirty.has(part)) continue;
      S.dirty.delete(part);
      if (part === "checks") V.renderChecks(topo);
      else if (part === "forms") V.refreshForms(topo);
      else if (part === "capture") V.renderCaptureInterfaces(topo);
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
    if (name === "shell" && S.shell) setTimeout(V.fitShell, 0);
    if (name === "course") V.loadCourse();
  }

  // ------------------------------------------------------------------ start
  function wire() {
    for (const b of document.querySelectorAll("#tabs [data-tab]")) b.addEventListener("click", () => showTab(b.dataset.tab));
    $("#checks-run").addEventListener("click", V.runChecks);
    $("#trace-form").addEventListener("submit", V.submitTrace);
    $("#trace-proto").addEventListener("change", () => {
      const p = $("#trace-proto").value;
      $("#trace-port").disabled = p === "icmp";
      if (p === "icmp") $("#trace-port").value = "";
    });
    $("#trace-port").disabled = true;
    $("#trace-clear").addEventListener("click", V.clearTrace);
    $("#reach-form").addEventListener("submit", V.runReach);
    $("#reach-proto").addEventListener("change", () => { $("#reach-port").disabled = $("#reach-proto").value !== "tcp"; });
    $("#reach-port").disabled = true;
    $("#capture-start").addEventListener("click", V.startCapture);
    $("#capture-stop").addEventListener("click", V.stopCapture);
    $("#shell-connect").addEventListener("click", () => V.connectShell($("#shell-node").value));
    $("#shell-disconnect").addEventListener("click", V.closeShell);
    $("#map-fit").addEventListener("click", V.fitMap);
    $("#map-expand").addEventListener("change", () => { S.mapKey = null; V.loadTopology(); });
    document.addEventListener("visibilitychange", () => { if (!document.hidden && isLive()) V.loadTopology(); });
    window.addEventListener("resize", () => { V.fitShell(); });
    if (window.ResizeObserver) new ResizeObserver(() => requestAnimationFrame(V.mapResized)).observe($("#map-wrap"));
  }

  async function start() {
    wire();
    showTab("node");
    await V.refreshLabs();
    const want = new URLSearchParams(location.hash.slice(1));
    if (want.get("expand") === "1") $("#map-expand").checked = true;
    if (want.get("lab") && S.labs.running.some((r) => r.lab === want.get("lab"))) {
      const r = S.labs.running.find((x) => x.lab === want.get("lab"));
      V.selectLab(r.lab, r.file);
    } else if (want.get("file") && S.labs.files.some((f) => f.file === want.get("file"))) {
      const f = S.labs.files.find((x) => x.file === want.get("file"));
      if (f.running && f.lab && !want.get("static")) V.selectLab(f.lab, f.file);
      else V.selectFile(f.file);
    }
    if (want.get("tab")) showTab(want.get("tab"));
    setInterval(() => { if (!document.hidden) V.refreshLabs(); }, LABS_MS);
  }

  window.vnetlab = {
    state: S, api, shellText: V.shellText, selectLab: V.selectLab, selectFile: V.selectFile, selectNode: V.selectNode,
    showTab, runChecks: V.runChecks, drawTrace: V.drawTrace, clearTrace: V.clearTrace,
    get map() { return S.map; }, get topology() { return S.topology; },
  };

  Object.assign(V, { showTab, flushPanels });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})(window.VnetlabPage = window.VnetlabPage || {});
