/* vnetlab web: the shell tab (#shell): xterm.js over the node's websocket. */
(function (V) {
  "use strict";
  const { $, h, fill, S, isLive, currentLab, enc, labPath, fail } = V;
  // ------------------------------------------------------------------ shell (xterm.js over the websocket)
  function openShell(node) {
    V.showTab("shell");
    $("#shell-node").value = node;
    connectShell(node);
  }

  const scripts = new Map();
  /** Loads a script of /static once (xterm.js waits until a shell is opened: half the page's weight). */
  function loadScript(src) {
    if (!scripts.has(src)) {
      scripts.set(src, new Promise((resolve, reject) => {
        const el = h("script", { src });
        el.onload = resolve;
        el.onerror = () => { scripts.delete(src); reject(new Error(`cannot load ${src}`)); };
        document.head.append(el);
      }));
    }
    return scripts.get(src);
  }

  async function connectShell(node) {
    if (!isLive()) return;
    closeShell();
    const lab = currentLab();
    try {
      await loadScript("/static/vendor/xterm.js");
      await loadScript("/static/vendor/xterm-addon-fit.js");
    } catch (err) {
      fail("shell", err);
      return;
    }
    if (currentLab() !== lab) return;
    closeShell();
    const holder = $("#shell-term");
    fill(holder);
    const term = new window.Terminal({
      cursorBlink: true, fontSize: 13, scrollback: 2000,
      fontFamily: "'DejaVu Sans Mono', 'Liberation Mono', monospace",
      theme: { background: "#1e1e1e" },
    });
    const fit = new window.FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(holder);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}${labPath(lab)}/nodes/${enc(node)}/shell`);
    ws.binaryType = "arraybuffer";
    const shell = { ws, term, fit, node, lab, observer: null };
    S.shell = shell;
    const st = $("#shell-status");
    st.textContent = `connecting to ${node}…`;
    st.dataset.state = "connecting";
    const encoder = new TextEncoder();
    const resize = () => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ resize: [term.cols, term.rows] }));
    };
    ws.onopen = () => {
      if (S.shell !== shell) return;
      st.textContent = `${lab} ${node}`;
      st.dataset.state = "open";
      fitShell();
      resize();
      term.focus();
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data === "string") term.write(ev.data);
      else term.write(new Uint8Array(ev.data));
    };
    ws.onclose = (ev) => {
      if (S.shell !== shell) return;
      st.textContent = `closed${ev.reason ? ": " + ev.reason : ""}`;
      st.dataset.state = "closed";
      term.write("\r\n\x1b[2m[connection closed]\x1b[0m\r\n");
      $("#shell-disconnect").disabled = true;
    };
    term.onData((data) => { if (ws.readyState === WebSocket.OPEN) ws.send(encoder.encode(data)); });
    term.onBinary((data) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      const bytes = new Uint8Array(data.length);
      for (let i = 0; i < data.length; i++) bytes[i] = data.charCodeAt(i) & 0xff;
      ws.send(bytes);
    });
    term.onResize(resize);
    if (window.ResizeObserver) {
      shell.observer = new ResizeObserver(() => fitShell());
      shell.observer.observe(holder);
    }
    $("#shell-disconnect").disabled = false;
    fitShell();
  }

  function fitShell() {
    const shell = S.shell;
    if (!shell || S.tab !== "shell") return;
    const holder = $("#shell-term");
    if (!holder.offsetWidth || !holder.offsetHeight) return;
    try { shell.fit.fit(); } catch (_) { /* not laid out yet */ }
  }

  function closeShell() {
    const shell = S.shell;
    if (!shell) return;
    S.shell = null;
    if (shell.observer) shell.observer.disconnect();
    try { shell.ws.close(); } catch (_) { /* closed already */ }
    shell.term.dispose();
    $("#shell-status").textContent = "closed";
    $("#shell-status").dataset.state = "closed";
    $("#shell-disconnect").disabled = true;
  }

  /** The terminal's text (for tests): every line of the buffer. */
  function shellText() {
    const shell = S.shell;
    if (!shell) return "";
    const buffer = shell.term.buffer.active;
    const lines = [];
    for (let i = 0; i < buffer.length; i++) {
      const line = buffer.getLine(i);
      if (line) lines.push(line.translateToString(true));
    }
    return lines.join("\n");
  }

  Object.assign(V, { openShell, connectShell, fitShell, closeShell, shellText });
})(window.VnetlabPage = window.VnetlabPage || {});
