/* vnetlab web: calls to this server's /api (JSON in and out, ApiError) and the top bar's error line. */
(function (V) {
  "use strict";
  const { $ } = V;
  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  /** One API call: JSON in and out; an error answer ({"error": ...}) raises ApiError. */
  async function api(method, path, body) {
    const opts = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const answer = await fetch(path, opts);
    let data = null;
    try { data = await answer.json(); } catch (_) { data = null; }
    if (!answer.ok) {
      const message = (data && data.error) || `${answer.status} ${answer.statusText}`;
      throw new ApiError(answer.status, message);
    }
    return data;
  }

  const enc = encodeURIComponent;
  const labPath = (lab) => `/api/labs/${enc(lab)}`;

  function status(text, state) {
    const el = $("#top-status");
    el.textContent = text || "";
    el.dataset.state = state || "idle";
    if (state === "error") console.warn("vnetlab:", text);
  }

  function fail(where, err) {
    status(`${where}: ${err.message || err}`, "error");
  }

  Object.assign(V, { ApiError, api, enc, labPath, status, fail });
})(window.VnetlabPage = window.VnetlabPage || {});
