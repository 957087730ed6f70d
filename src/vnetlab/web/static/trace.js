/* The trace overlay: a `vnetlab trace` result drawn on the map (topology.js's cytoscape instance).
 *
 *   VnetlabTrace.show(map, topology, result, {overlay, onDone}) -> the hops drawn
 *   VnetlabTrace.clear(map)      removes it
 *   VnetlabTrace.reapply(map)    puts the classes back after map.update() replaced them
 *
 * The probe's path is highlighted hop by hop (each node numbered in the order the packet met it,
 * the cables between them drawn thick with an arrow the way it went), each hop carries its reason
 * (route, bridge decision, nft verdict) as the number's tooltip, and the node that dropped or
 * refused it is marked red with the rule or missing route that did it. The reply (or the error or
 * RST sent back), when there is one, follows in its own colour with arrows at the end it arrived
 * at, the way it went back; a cable both crossed keeps the probe's colour, outlined in the reply's.
 */
(function () {
  "use strict";

  const STEP_MS = 180; // the delay between two hops appearing: the eye follows the packet
  const STOPPED = ["dropped", "refused", "lost"];
  const REPLY = "#8e24aa"; // the reply's colour (the probe's is #1565c0)
  const CLASSES = "trace-hop trace-edge trace-fwd trace-rev trace-drop trace-drop-edge"
    + " trace-reply-hop trace-reply-edge trace-reply-fwd trace-reply-rev";

  function ensureStyle(cy) {
    if (cy.scratch("vnetlabTraceStyle")) return;
    cy.scratch("vnetlabTraceStyle", true);
    // Later rules win: a node or cable on both legs shows the probe's colour (the reply's outline).
    cy.style()
      .selector("node.trace-reply-hop").style({
        "border-width": 4, "border-color": REPLY, "border-style": "solid", "border-opacity": 1,
      })
      .selector("edge.trace-reply-edge").style({
        "line-color": REPLY, "width": 5, "line-style": "solid", "opacity": 1, "z-index": 89,
      })
      .selector("edge.trace-reply-fwd").style({
        "target-arrow-shape": "triangle", "target-arrow-color": REPLY, "arrow-scale": 1.4,
      })
      .selector("edge.trace-reply-rev").style({
        "source-arrow-shape": "triangle", "source-arrow-color": REPLY, "arrow-scale": 1.4,
      })
      .selector("node.trace-hop").style({
        "border-width": 4, "border-color": "#1565c0", "border-style": "solid", "border-opacity": 1,
      })
      .selector("edge.trace-edge").style({
        "line-color": "#1565c0", "width": 5, "line-style": "solid", "opacity": 1, "z-index": 90,
      })
      .selector("edge.trace-fwd").style({
        "mid-target-arrow-shape": "triangle", "mid-target-arrow-color": "#1565c0", "arrow-scale": 1.4,
      })
      .selector("edge.trace-rev").style({
        "mid-source-arrow-shape": "triangle", "mid-source-arrow-color": "#1565c0", "arrow-scale": 1.4,
      })
      .selector("edge.trace-edge.trace-reply-edge").style({
        "line-outline-width": 2, "line-outline-color": REPLY,
      })
      .selector("node.trace-drop").style({
        "border-width": 6, "border-color": "#d32f2f", "border-style": "double", "background-color": "#ffcdd2",
      })
      .selector("edge.trace-drop-edge").style({
        "line-color": "#d32f2f", "mid-target-arrow-color": "#d32f2f", "mid-source-arrow-color": "#d32f2f",
      })
      .update();
  }

  /** Why a hop passed the packet on, as text (the API's path gives it; else built from the hop). */
  function reasonOf(hop) {
    const parts = [];
    for (const b of hop.bridges || []) if (b && b.text) parts.push(b.text);
    for (const v of hop.ovs || []) parts.push(v);
    if (hop.route && hop.route.text) parts.push(hop.route.text);
    for (const v of hop.nft || []) parts.push("nft: " + v);
    for (const v of hop.nat || []) parts.push(v);
    return parts.join("; ");
  }

  function interfaces(hop, dir) {
    return (hop.seen || []).filter((s) => s.dir === dir).map((s) => s.interface);
  }

  /** The forward path as [{node, reason, dropped, seen}], from the API's `path` list when it is one,
   * with the interfaces from `forward.hops`; the node that stopped the probe marked `dropped`. */
  function hopsOf(result) {
    const raw = (result.forward && result.forward.hops) || [];
    const listed = Array.isArray(result.path) ? result.path : null;
    let hops;
    if (listed && listed.length && (!raw.length || listed.length !== raw.length)) {
      hops = listed.map((p) => ({ node: p.node, reason: p.reason || "", dropped: !!p.dropped, seen: p.seen || [] }));
    } else {
      hops = raw.map((hop, i) => {
        const given = listed && listed[i] && listed[i].node === hop.node ? listed[i] : null;
        return {
          node: hop.node, seen: hop.seen || [], dropped: given ? !!given.dropped : false,
          reason: (given && given.reason) || reasonOf(hop),
        };
      });
    }
    const stopped = STOPPED.includes(result.result);
    const by = result.result === "lost" ? (result.last_seen || result.by) : result.by;
    if (stopped && by && !hops.some((h) => h.dropped)) {
      for (let i = hops.length - 1; i >= 0; i--) {
        if (hops[i].node === by) { hops[i].dropped = true; break; }
      }
    }
    for (const h of hops) {
      if (h.dropped && result.reason && !(h.reason || "").includes(result.reason)) {
        h.reason = h.reason ? h.reason + "; " + result.reason : result.reason;
      }
    }
    return hops;
  }

  /** The reply leg (the answer, or the error or RST sent back) as [{node, reason, seen}], in the
   * order it went (from the node that answered back to the source); [] when nothing came back. */
  function replyHopsOf(result) {
    const raw = (result.reply && result.reply.hops) || [];
    const listed = Array.isArray(result.reply_hops) ? result.reply_hops : [];
    if (!raw.length) return listed.map((p) => ({ node: p.node, reason: p.reason || "", dropped: false, seen: [] }));
    return raw.map((hop, i) => {
      const given = listed[i] && listed[i].node === hop.node ? listed[i] : null;
      return { node: hop.node, seen: hop.seen || [], dropped: false, reason: (given && given.reason) || reasonOf(hop) };
    });
  }

  /** The map element standing for lab node `name`: itself, or the "N hosts" group it is folded into. */
  function elementOf(cy, topology, name) {
    const own = cy.getElementById(name);
    if (own.nonempty()) return own;
    const folded = topology && topology.collapsed && topology.collapsed.folded;
    if (folded && folded[name]) return cy.getElementById(folded[name]);
    for (const n of (topology && topology.nodes) || []) {
      if (n.kind === "group" && (n.members || []).includes(name)) return cy.getElementById(n.id);
    }
    return cy.collection();
  }

  /** The cable between hops a and b: the topology edge whose ends are on those nodes, preferring
   * the one on the interfaces the probe was seen leaving a and entering b. */
  function edgeBetween(cy, topology, a, b) {
    const outs = interfaces(a, "out");
    const ins = interfaces(b, "in");
    let best = null;
    let bestScore = -1;
    for (const e of (topology && topology.edges) || []) {
      const ends = e.ends || [];
      if (ends.length !== 2) continue;
      for (const [x, y, forward] of [[ends[0], ends[1], true], [ends[1], ends[0], false]]) {
        if (x.node !== a.node || y.node !== b.node) continue;
        const score = (outs.includes(x.interface) ? 1 : 0) + (ins.includes(y.interface) ? 1 : 0);
        if (score > bestScore) { bestScore = score; best = { id: e.id, sourceIsA: forward, edge: e }; }
      }
    }
    const aEle = elementOf(cy, topology, a.node);
    if (!best) {
      // No cable of the file joins them on the map (a host folded into a group): whatever is drawn between them.
      const bEle = elementOf(cy, topology, b.node);
      if (aEle.empty() || bEle.empty()) return null;
      const between = aEle.union(aEle.descendants()).edgesWith(bEle.union(bEle.descendants()));
      if (between.empty()) return null;
      const first = between[0];
      return { ele: first, forward: first.source().same(aEle) || first.source().parent().same(aEle) };
    }
    const ele = cy.getElementById(best.id);
    if (ele.empty()) return null;
    // The drawn edge's direction may differ from the file's (a hypervisor's end starts at its bridge).
    const src = ele.source();
    const fromA = aEle.nonempty() && (src.same(aEle) || src.parent().same(aEle));
    return { ele, forward: fromA || (aEle.empty() && best.sourceIsA) };
  }

  function clear(map) {
    const cy = map && map.cy;
    const state = map && map._vnetlabTrace;
    if (state) {
      for (const t of state.timers) clearTimeout(t);
      if (state.overlay) state.overlay.replaceChildren();
      if (state.onRender && cy) cy.off("render", state.onRender);
      map._vnetlabTrace = null;
    }
    if (cy) cy.elements().removeClass(CLASSES);
  }

  /** The drop's note: the trace's reason (it names the rule or the missing route, and mostly the node). */
  function dropNote(result, node, reason) {
    const why = result.reason || reason || "";
    return why.includes(node) ? why : `${result.result} at ${node}` + (why ? `: ${why}` : "");
  }

  function badge(text, cls, title) {
    const el = document.createElement("div");
    el.className = "trace-badge " + cls;
    el.textContent = text;
    if (title) el.title = title;
    return el;
  }

  /** Puts the overlay's numbers and the drop note next to their nodes (called on every render). */
  function place(map) {
    const state = map._vnetlabTrace;
    if (!state || !state.overlay) return;
    for (const item of state.placed) {
      if (!item.shown) { item.el.hidden = true; continue; }
      const bb = item.ele.renderedBoundingBox({ includeLabels: false });
      if (!isFinite(bb.x1)) { item.el.hidden = true; continue; }
      item.el.hidden = false;
      if (item.kind === "drop") {
        // under the node, centred, kept inside the map (a node at its edge keeps its note readable)
        const width = item.el.offsetWidth;
        const room = state.overlay.clientWidth;
        const left = Math.min(Math.max(4, (bb.x1 + bb.x2) / 2 - width / 2), Math.max(4, room - width - 4));
        item.el.style.left = Math.round(left) + "px";
        // on the side away from the cable the probe came in on
        const from = item.from && item.from.nonempty() ? item.from.renderedBoundingBox({ includeLabels: false }) : null;
        const above = from && (from.y1 + from.y2) / 2 > (bb.y1 + bb.y2) / 2 && bb.y1 - item.el.offsetHeight - 6 > 0;
        item.el.style.top = Math.round(above ? bb.y1 - item.el.offsetHeight - 6 : bb.y2 + 6) + "px";
      } else {
        item.el.style.left = Math.round(bb.x1 - 10) + "px";
        item.el.style.top = Math.round(bb.y1 - 10) + "px";
      }
    }
  }

  function applyClasses(map) {
    const state = map._vnetlabTrace;
    if (!state) return;
    for (const step of state.steps.slice(0, state.shown)) {
      for (const [ele, cls] of step.classes) ele.addClass(cls);
    }
  }

  function show(map, topology, result, opts) {
    opts = opts || {};
    const cy = map.cy;
    clear(map);
    ensureStyle(cy);
    const hops = hopsOf(result);
    const state = { timers: [], overlay: opts.overlay || null, placed: [], steps: [], shown: 0, hops };
    map._vnetlabTrace = state;
    const numbers = new Map(); // element id -> badge item (a node visited twice lists both numbers)
    hops.forEach((hop, i) => {
      const ele = elementOf(cy, topology, hop.node);
      const classes = [];
      if (ele.nonempty()) classes.push([ele, hop.dropped ? "trace-drop" : "trace-hop"]);
      if (i > 0) {
        const link = edgeBetween(cy, topology, hops[i - 1], hop);
        if (link) {
          classes.push([link.ele, "trace-edge"]);
          classes.push([link.ele, link.forward ? "trace-fwd" : "trace-rev"]);
          if (hop.dropped) classes.push([link.ele, "trace-drop-edge"]);
        }
      }
      const items = [];
      if (ele.nonempty() && state.overlay) {
        let item = numbers.get(ele.id());
        const tip = `${i + 1}. ${hop.node}` + (hop.reason ? ` — ${hop.reason}` : "");
        if (item) {
          item.el.textContent += "," + (i + 1);
          item.el.title += "\n" + tip;
        } else {
          item = { ele, kind: "hop", shown: false, el: badge(String(i + 1), hop.dropped ? "drop" : "hop", tip) };
          item.el.dataset.node = hop.node;
          numbers.set(ele.id(), item);
          state.overlay.append(item.el);
          state.placed.push(item);
        }
        items.push(item);
        if (hop.dropped) {
          const note = { ele, kind: "drop", shown: false, from: i > 0 ? elementOf(cy, topology, hops[i - 1].node) : null,
                         el: badge(dropNote(result, hop.node, hop.reason), "note") };
          note.el.dataset.node = hop.node;
          state.overlay.append(note.el);
          state.placed.push(note);
          items.push(note);
        }
      }
      state.steps.push({ classes, items });
    });
    // The drop may be at a node the probe was never seen in (the source's own routing table).
    if (STOPPED.includes(result.result) && !hops.some((h) => h.dropped) && result.by) {
      const ele = elementOf(cy, topology, result.by);
      if (ele.nonempty()) {
        const items = [];
        if (state.overlay) {
          const note = { ele, kind: "drop", shown: false, el: badge(dropNote(result, result.by, ""), "note") };
          state.overlay.append(note.el);
          state.placed.push(note);
          items.push(note);
        }
        state.steps.push({ classes: [[ele, "trace-drop"]], items });
        hops.push({ node: result.by, reason: result.reason || "", dropped: true, seen: [] });
      }
    }
    // The reply, after the probe: its nodes and cables, its arrows the way it went back.
    const back = replyHopsOf(result);
    back.forEach((hop, i) => {
      const ele = elementOf(cy, topology, hop.node);
      const classes = [];
      if (ele.nonempty()) classes.push([ele, "trace-reply-hop"]);
      if (i > 0) {
        const link = edgeBetween(cy, topology, back[i - 1], hop);
        if (link) {
          classes.push([link.ele, "trace-reply-edge"]);
          classes.push([link.ele, link.forward ? "trace-reply-fwd" : "trace-reply-rev"]);
        }
      }
      state.steps.push({ classes, items: [] });
    });
    state.onRender = () => place(map);
    cy.on("render", state.onRender);
    const reveal = (n) => {
      state.shown = n;
      const step = state.steps[n - 1];
      for (const [ele, cls] of step.classes) ele.addClass(cls);
      for (const item of step.items) item.shown = true;
      place(map);
      if (n === state.steps.length && opts.onDone) opts.onDone(hops);
    };
    if (!state.steps.length) { if (opts.onDone) opts.onDone(hops); return hops; }
    state.steps.forEach((_, i) => {
      state.timers.push(setTimeout(() => reveal(i + 1), opts.instant ? 0 : i * STEP_MS));
    });
    return hops;
  }

  function reapply(map) {
    if (map && map._vnetlabTrace) { applyClasses(map); place(map); }
  }

  window.VnetlabTrace = { show, clear, reapply, hopsOf, replyHopsOf };
})();
