/* vnetlab web: the reachability matrix (#reach) as a coloured grid. */
(function (V) {
  "use strict";
  const { $, h, fill, isLive, currentLab, api, labPath, fail } = V;
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

  Object.assign(V, { runReach });
})(window.VnetlabPage = window.VnetlabPage || {});
