/* vnetlab web: the node panel (#node-panel): a node, a group or a link clicked on the map or the tree. */
(function (V) {
  "use strict";
  const { $, h, fill, S, isLive, currentLab, section, table, pre, api, enc, labPath } = V;
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
    V.showTab("node");
    if (S.map && S.map.cy && fromTree) {
      const ele = S.map.cy.getElementById(id);
      if (ele.nonempty()) { S.map.cy.elements().unselect(); ele.select(); }
    }
    V.renderLabs();
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
        h("button", { type: "button", class: "small", onclick: () => V.openShell(info.node) }, "shell"),
        h("button", { type: "button", class: "small", onclick: () => V.traceFrom(info.node) }, "trace from here")),
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
    V.showTab("node");
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

  Object.assign(V, { topoNode, selectNode, renderNodeFromTopology, showEdge });
})(window.VnetlabPage = window.VnetlabPage || {});
