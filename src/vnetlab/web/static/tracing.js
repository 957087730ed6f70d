/* vnetlab web: the trace form (#trace-form) and its result (#trace-result); trace.js draws it on the map. */
(function (V) {
  "use strict";
  const { $, h, fill, S, isLive, currentLab, pre, api, labPath } = V;
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
    const back = window.VnetlabTrace ? VnetlabTrace.replyHopsOf(result) : [];
    const pathText = typeof result.path === "string" ? result.path : result.path_line || "";
    fill(out,
      h("p", { class: "verdict " + (stopped ? "fail" : "pass"), id: "trace-verdict" },
        h("b", {}, result.result), result.by ? ` at ${result.by}` : "", result.reason ? ` — ${result.reason}` : ""),
      pathText ? h("p", { class: "path" }, pathText) : null,
      list,
      result.reply_path ? h("p", { class: "path" }, "reply: " + result.reply_path) : null,
      back.length ? h("ol", { class: "hops reply", id: "trace-reply-hops" }, back.map((hop) => h("li", {
        class: "hop", dataset: { node: hop.node },
        onmouseenter: () => flash(hop.node, true), onmouseleave: () => flash(hop.node, false),
      }, h("b", {}, hop.node), hop.reason ? h("span", { class: "reason" }, " — " + hop.reason) : null))) : null,
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
    V.showTab("trace");
    $("#trace-from").value = node;
    $("#trace-to").focus();
  }

  Object.assign(V, { submitTrace, drawTrace, clearTrace, traceFrom });
})(window.VnetlabPage = window.VnetlabPage || {});
