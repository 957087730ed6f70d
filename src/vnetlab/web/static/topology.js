/* vnetlab's topology map: draws the topology JSON (vnetlab-topology/1, see
 * vnetlab.io.topology) with cytoscape.js.
 *
 *   var map = VnetlabMap.draw(container, topology, {onSelect: function (kind, id) {...}});
 *   map.cy                 // the cytoscape instance (overlays add classes / elements on it)
 *   map.update(topology)   // new state and classes; nodes keep their places (classes and
 *                          // elements added by others, e.g. a trace overlay, are left alone)
 *
 * kind is "node" or "edge" (id: the topology's id), or null when the
 * background is clicked. With topology.positions (Graphviz's layout, as
 * `vnetlab graph` draws it) the map uses them ("preset"), else a layout of
 * its own. Styles follow the node kinds (hypervisor, bridge, switch, OVS,
 * router, host, vm, group, stack) and the live state: a cut cable red and
 * dashed, a link down red and dotted, an impaired link orange with its text,
 * a node whose checks passed outlined green, failed red.
 */
(function (global) {
  "use strict";

  // a node as big as its label (cytoscape's "label" size is deprecated)
  function labelLines(node) { return String(node.data("label") || "").split("\n"); }
  function labelWidth(node) {
    return Math.max(24, Math.max.apply(null, labelLines(node).map(function (l) { return l.length; })) * 6);
  }
  function labelHeight(node) { return Math.max(16, labelLines(node).length * 12); }

  // Graphviz's layout left room for a label in the middle of each edge; the map labels the
  // ends instead, which needs more room near the nodes: the same picture, spread out
  var SPREAD = 1.4;

  var STYLE = [
    {selector: "node", style: {
      "label": "data(label)", "text-wrap": "wrap", "font-size": 10, "font-family": "Helvetica, Arial, sans-serif",
      "text-valign": "center", "text-halign": "center", "shape": "round-rectangle",
      "width": labelWidth, "height": labelHeight, "padding": "6px",
      "background-color": "#ffffff", "border-width": 1, "border-color": "#555555",
      "min-zoomed-font-size": 7}},  // labels too small to read are not painted: big maps draw fast
    {selector: "node.hypervisor, node:parent", style: {
      "text-valign": "top", "text-halign": "center", "background-color": "#f6f6f6", "background-opacity": 1,
      "border-color": "#888888", "padding": "14px", "font-size": 12, "font-weight": "bold"}},
    {selector: "node.bridge, node.switch", style: {"shape": "rectangle", "background-color": "#d9ecff"}},
    {selector: "node.ovs", style: {"background-color": "#d8f5d0"}},
    {selector: "node.controller", style: {"border-style": "double", "border-width": 4}},
    {selector: "node.router", style: {"shape": "ellipse", "background-color": "#fff3c4", "padding": "10px"}},
    {selector: "node.vm", style: {"shape": "cut-rectangle", "background-color": "#eef4ff"}},
    {selector: "node.stack", style: {"shape": "ellipse", "background-color": "#ffffff"}},
    {selector: "node.group", style: {
      "shape": "round-tag", "background-color": "#eeeeee", "border-style": "dashed", "padding": "10px"}},
    {selector: "node.check-passed", style: {"border-color": "#2ca02c", "border-width": 3}},
    {selector: "node.check-failed", style: {"border-color": "#d62728", "border-width": 3}},
    {selector: "node:selected", style: {"overlay-color": "#1f77b4", "overlay-opacity": 0.15}},
    {selector: "edge", style: {
      "curve-style": "bezier", "width": 1.5, "line-color": "#666666", "font-size": 8,
      "font-family": "Helvetica, Arial, sans-serif", "label": "data(label)", "text-wrap": "wrap",
      "source-label": "data(sourceLabel)", "target-label": "data(targetLabel)",
      "source-text-offset": 44, "target-text-offset": 36, "text-background-color": "#ffffff",
      "text-background-opacity": 0.8, "text-background-padding": "1px", "min-zoomed-font-size": 7}},
    {selector: "edge.tap", style: {"line-color": "#1f77b4"}},
    {selector: "edge.trunk", style: {"width": 3.5}},
    {selector: "edge.bond", style: {"width": 3, "line-color": "#8c564b"}},
    {selector: "edge.group", style: {"width": 4, "line-color": "#999999"}},
    {selector: "edge.impaired", style: {"line-color": "#ff7f0e", "width": 3, "color": "#c05800"}},
    {selector: "edge.down", style: {"line-color": "#d62728", "line-style": "dotted", "width": 2.5}},
    {selector: "edge.cut", style: {"line-color": "#d62728", "line-style": "dashed", "width": 3, "color": "#d62728"}},
    {selector: "edge:selected", style: {"overlay-color": "#1f77b4", "overlay-opacity": 0.2}}
  ];

  function endText(end) {
    var parts = [end.interface];
    if (end.bond) { parts.push("(" + end.bond + ")"); }
    if (end.vlan !== null && end.vlan !== undefined) { parts.push("VLAN " + end.vlan); }
    if (end.trunk && end.trunk.length) { parts.push("trunk " + end.trunk.join(",")); }
    return parts.join(" ");
  }

  function nodeLabel(node) {
    var lines = [node.label + (node.backend === "ovs" ? " (OVS)" : "")];
    if (node.controller) { lines.push("controller " + node.controller); }
    if (!node.compound) { lines = lines.concat(node.addresses || []); }
    return lines.join("\n");
  }

  function edgeLabel(edge) {
    if (edge.members) { return edge.label; }
    var state = edge.state || {};
    var texts = [];
    (edge.ends || []).forEach(function (end) {
      var name = end.node + ":" + end.interface;
      var held = state.impaired && state.impaired[name];
      var text = held ? held.text : (edge.state ? null : end.impairment);
      if (text) { texts.push(end.node + ": " + text); }
    });
    if (state.cut) { texts.push("cut"); }
    return texts.join("\n");
  }

  function nodeElement(node) {
    var data = {id: node.id, label: nodeLabel(node), kind: node.kind};
    if (node.parent) { data.parent = node.parent; }
    return {group: "nodes", data: data, classes: [node.kind].concat(node.classes || []).join(" ")};
  }

  function edgeElement(edge) {
    var ends = edge.ends || [];
    return {group: "edges", classes: (edge.classes || []).join(" "), data: {
      id: edge.id, source: edge.source, target: edge.target, label: edgeLabel(edge),
      sourceLabel: ends.length ? endText(ends[0]) : "", targetLabel: ends.length ? endText(ends[1]) : ""}};
  }

  function elements(topology) {
    var positions = topology.positions || {};
    var found = topology.nodes.map(function (node) {
      var element = nodeElement(node);
      if (positions[node.id]) { element.position = {x: positions[node.id].x * SPREAD, y: positions[node.id].y * SPREAD}; }
      return element;
    });
    return found.concat(topology.edges.map(edgeElement));
  }

  function hasPositions(topology) {
    var positions = topology.positions || {};
    return topology.nodes.every(function (node) {
      return node.compound || positions[node.id] !== undefined;
    });
  }

  function layoutOf(topology) {
    if (hasPositions(topology)) { return {name: "preset", fit: true, padding: 20}; }
    if (topology.nodes.length > 150) { return {name: "breadthfirst", fit: true, padding: 20, spacingFactor: 0.8}; }
    return {name: "cose", fit: true, padding: 20, animate: false, nodeDimensionsIncludeLabels: true};
  }

  function draw(container, topology, options) {
    options = options || {};
    var cy = global.cytoscape({
      container: container, elements: elements(topology), style: STYLE, layout: layoutOf(topology),
      minZoom: 0.05, maxZoom: 4, boxSelectionEnabled: false
    });
    var onSelect = options.onSelect || function () {};
    cy.on("tap", "node", function (event) { onSelect("node", event.target.id()); });
    cy.on("tap", "edge", function (event) { onSelect("edge", event.target.id()); });
    cy.on("tap", function (event) { if (event.target === cy) { onSelect(null, null); } });
    var map = {cy: cy, topology: topology};

    // the classes each element got from a topology: update replaces only those, so classes and
    // elements an overlay adds (a trace's path) stay until it removes them
    var mine = {};
    elements(topology).forEach(function (element) { mine[element.data.id] = element.classes; });

    map.update = function (next) {
      var positions = next.positions || {};
      var wanted = {};
      var added = [];
      var layoutAgain = false;
      cy.batch(function () {
        elements(next).forEach(function (element) {
          var id = element.data.id;
          wanted[id] = true;
          var current = cy.getElementById(id);
          if (current.nonempty() && (element.group === "edges"
              ? current.data("source") !== element.data.source || current.data("target") !== element.data.target
              : (current.data("parent") || null) !== (element.data.parent || null))) {
            current.remove();  // it moved (a group folded or unfolded): made again
            current = cy.collection();
          }
          if (current.nonempty()) {
            var data = Object.assign({}, element.data);
            delete data.parent;
            current.data(data);
            current.removeClass(mine[id] || "");
            current.addClass(element.classes);
          } else {
            if (element.group === "nodes" && !element.position) {
              element.position = {x: 0, y: 0};
              layoutAgain = true;
            }
            added.push(element);
          }
          mine[id] = element.classes;
        });
        Object.keys(mine).forEach(function (id) {
          if (!wanted[id]) { cy.getElementById(id).remove(); delete mine[id]; }
        });
        if (added.length) {
          cy.add(added.filter(function (e) { return e.group === "nodes"; }));
          cy.add(added.filter(function (e) { return e.group === "edges"; }));
        }
      });
      if (layoutAgain) { cy.layout(layoutOf(next)).run(); }
      map.topology = next;
      return map;
    };

    map.fit = function () { cy.fit(undefined, 20); return map; };
    return map;
  }

  global.VnetlabMap = {draw: draw, elements: elements, style: STYLE, endText: endText, spread: SPREAD};
})(typeof window !== "undefined" ? window : this);
