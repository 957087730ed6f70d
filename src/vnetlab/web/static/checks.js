/* vnetlab web: checks (#checks): run them, the table; their colours on the map come with the topology. */
(function (V) {
  "use strict";
  const { $, h, fill, S, isLive, currentLab, timeOf, api, labPath, fail } = V;
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
      await V.loadTopology(); // the map's colours come with the topology (the last results)
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

  Object.assign(V, { runChecks, renderChecks });
})(window.VnetlabPage = window.VnetlabPage || {});
