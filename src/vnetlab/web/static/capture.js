/* vnetlab web: captures (#capture): interfaces to tick, start/stop, the pcapng download. */
(function (V) {
  "use strict";
  const { $, h, fill, S, isLive, currentLab, api, enc, labPath, fail } = V;
  const CAPTURE_MS = 1000;

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

  Object.assign(V, { renderCaptureInterfaces, startCapture, stopCaptureTimer, stopCapture });
})(window.VnetlabPage = window.VnetlabPage || {});
