/* vnetlab web: the node pickers of the trace and shell forms, fed by the topology. */
(function (V) {
  "use strict";
  const { $, h, fill } = V;
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
    const hosts = nodes.filter((n) => { const t = V.topoNode(n); return !t || t.kind !== "switch"; });
    fillSelect($("#trace-from"), hosts, true);
    fillSelect($("#shell-node"), hosts, true);
    fill($("#trace-targets"), ...hosts.map((n) => h("option", { value: n })));
  }

  Object.assign(V, { refreshForms });
})(window.VnetlabPage = window.VnetlabPage || {});
