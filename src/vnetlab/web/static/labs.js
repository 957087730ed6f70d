/* vnetlab web: the tree of lab files and running labs (#labs), up/down jobs and the task log (#jobs). */
(function (V) {
  "use strict";
  const { $, h, fill, S, isLive, api, enc, labPath, status, fail } = V;
  const JOB_MS = 400;

  // ------------------------------------------------------------------ the tree (#labs)
  async function refreshLabs() {
    try {
      S.labs = await api("GET", "/api/labs");
    } catch (err) {
      fail("labs", err);
      return;
    }
    renderLabs();
    // The lab shown went down elsewhere: show its file instead, or nothing.
    if (isLive() && !S.labs.running.some((r) => r.lab === S.selected.lab)) {
      const file = S.selected.file;
      if (file && S.labs.files.some((f) => f.file === file)) V.selectFile(file);
      else V.clearSelection();
    }
  }

  function jobOf(predicate) {
    for (const job of S.jobs.values()) if (job.state === "running" && predicate(job)) return job;
    return null;
  }

  function renderLabs() {
    const files = $("#labs-files");
    const running = $("#labs-running");
    fill(files);
    fill(running);
    $("#labs-empty").hidden = S.labs.files.length > 0;
    for (const f of S.labs.files) {
      const busy = jobOf((j) => j.file === f.file || (f.lab && j.lab === f.lab));
      const selected = S.selected && S.selected.kind === "file" && S.selected.file === f.file;
      const li = h("li", {
        class: "tree-item" + (selected ? " selected" : "") + (f.problem ? " problem" : ""),
        "data-testid": `file-${f.file}`, dataset: { file: f.file, running: String(!!f.running) },
        title: f.problem || f.description || "",
      },
      h("span", { class: "dot " + (f.problem ? "bad" : f.running ? "up" : "down") }),
      h("span", { class: "name", onclick: () => (f.running && f.lab ? V.selectLab(f.lab, f.file) : V.selectFile(f.file)) },
        f.file.replace(/\.ya?ml$/, ""), f.lab ? h("small", {}, ` ${f.lab}`) : null),
      f.problem ? null : h("button", {
        type: "button", class: "small" + (f.running ? "" : " primary"), disabled: busy ? true : null,
        "data-action": f.running ? "down" : "up",
        onclick: (ev) => { ev.stopPropagation(); f.running ? labDown(f.lab, f.file) : labUp(f.file); },
      }, busy ? "…" : f.running ? "down" : "up"));
      files.append(li);
    }
    for (const r of S.labs.running) {
      const selected = isLive() && S.selected.lab === r.lab;
      const busy = jobOf((j) => j.lab === r.lab);
      const li = h("li", {
        class: "tree-item lab" + (selected ? " selected" : ""), "data-testid": `lab-${r.lab}`,
        dataset: { lab: r.lab },
      },
      h("span", { class: "dot up" }),
      h("span", { class: "name", onclick: () => V.selectLab(r.lab, r.file) }, r.lab,
        h("small", {}, ` ${r.nodes} nodes`)),
      h("button", {
        type: "button", class: "small", "data-action": "down", disabled: busy ? true : null,
        onclick: (ev) => { ev.stopPropagation(); labDown(r.lab, r.file); },
      }, busy ? "…" : "down"));
      running.append(li);
      if (selected && S.topology) li.append(nodeTree(S.topology));
    }
  }

  /** The selected lab's nodes under it in the tree (hypervisors with their bridges). */
  function nodeTree(topology) {
    const ul = h("ul", { class: "tree sub" });
    const children = new Map();
    for (const n of topology.nodes) {
      if (n.parent) {
        if (!children.has(n.parent)) children.set(n.parent, []);
        children.get(n.parent).push(n);
      }
    }
    for (const n of topology.nodes) {
      if (n.parent) continue;
      const li = h("li", {
        class: "tree-item node" + (S.node === n.id ? " selected" : ""), "data-testid": `tree-node-${n.id}`,
      }, h("span", { class: `kind kind-${n.kind}` }), h("span", { class: "name", onclick: () => V.selectNode(n.id, true) },
        n.label || n.id));
      const kids = (children.get(n.id) || []).filter((c) => c.kind !== "stack");
      if (kids.length) {
        li.append(h("ul", { class: "tree sub" }, kids.map((c) => h("li", { class: "tree-item node" },
          h("span", { class: `kind kind-${c.kind}` }), h("span", { class: "name", onclick: () => V.selectNode(c.id, true) }, c.label || c.id)))));
      }
      ul.append(li);
    }
    return ul;
  }

  // ------------------------------------------------------------------ jobs (up / down with progress)
  async function labUp(file) {
    try {
      const { job } = await api("POST", "/api/labs", { file });
      track(job, { action: "up", file });
    } catch (err) {
      fail(`up ${file}`, err);
    }
  }

  async function labDown(lab, file) {
    if (S.shell && S.shell.lab === lab) V.closeShell();
    try {
      const { job } = await api("DELETE", labPath(lab));
      track(job, { action: "down", lab, file });
    } catch (err) {
      fail(`down ${lab}`, err);
    }
  }

  function track(id, what) {
    const job = { id, state: "running", done: 0, total: 0, error: null, ...what };
    S.jobs.set(id, job);
    const row = h("li", { class: "job running", "data-testid": `job-${id}`, dataset: { state: "running" } },
      h("span", { class: "job-what" }, `${what.action} ${what.exercise || what.file || what.lab}`),
      h("progress", { max: 1, value: 0 }),
      h("span", { class: "job-state" }, "starting"));
    $("#jobs").prepend(row);
    while ($("#jobs").children.length > 6) $("#jobs").lastElementChild.remove();
    renderLabs();
    const tick = async () => {
      let info;
      try {
        info = await api("GET", `/api/jobs/${enc(id)}`);
      } catch (err) {
        info = { state: "failed", error: err.message };
      }
      Object.assign(job, info, what); // the server's fields, and what this page asked (a course "start" is an "up" there)
      row.dataset.state = job.state;
      row.className = "job " + job.state;
      const bar = row.querySelector("progress");
      if (job.total) { bar.max = job.total; bar.value = job.done; }
      row.querySelector(".job-state").textContent = job.state === "failed" ? `failed: ${job.error}`
        : job.state === "done" ? "done" : job.total ? `${job.done}/${job.total}` : "working";
      if (job.state === "running") { setTimeout(tick, JOB_MS); return; }
      S.jobs.delete(id);
      await refreshLabs();
      if (job.state === "done" && (job.action === "up" || job.action === "start")) {
        const lab = job.lab || (S.labs.files.find((f) => f.file === job.file) || {}).lab;
        // Show the lab just built when its file (or nothing) was on screen.
        if (lab && (!S.selected || S.selected.file === job.file)) V.selectLab(lab, job.file);
      }
      if (job.action === "start" && $("#course").dataset.state === "exercise" && $("#course").dataset.exercise === job.exercise) {
        V.openExercise(job.exercise); // now running: hints, answers and the grade are open
      }
      if (job.state === "failed") status(`${job.action} ${job.exercise || job.file || job.lab} failed: ${job.error}`, "error");
    };
    setTimeout(tick, JOB_MS);
  }

  Object.assign(V, { refreshLabs, renderLabs, track });
})(window.VnetlabPage = window.VnetlabPage || {});
