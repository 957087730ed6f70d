/* vnetlab web: the course tab (#course): exercises, the text, hints, answers, the grade. */
(function (V) {
  "use strict";
  const { $, h, fill, S, section, table, timeOf, api, enc, fail } = V;
  // ------------------------------------------------------------------ course
  async function loadCourse() {
    const box = $("#course");
    if (box.dataset.state === "exercise") return; // an exercise is open: keep it
    let listing;
    try {
      listing = await api("GET", "/api/course");
    } catch (err) {
      box.dataset.state = err.status === 404 ? "absent" : "error";
      fill(box, h("p", { class: err.status === 404 ? "hint" : "error" }, err.status === 404 ? "This server has no course." : err.message));
      return;
    }
    const exercises = listing.exercises || [];
    box.dataset.state = "list";
    fill(box,
      h("p", { class: "hint" }, `The course's exercises (student ${listing.student || "?"}). Pick one to read it, start it, ask for a hint, grade it.`),
      table(["exercise", "section", "title", "status", "points"], exercises.map((x) => [
        h("a", { href: "#", "data-testid": `exercise-${x.id}`, onclick: (ev) => { ev.preventDefault(); openExercise(x.id); } }, x.id),
        x.section, x.title, h("span", { class: "status-" + String(x.status).replace(/\s+/g, "-") }, x.status),
        x.total ? `${x.points === null || x.points === undefined ? "–" : x.points}/${x.total}` : ""])));
  }

  async function openExercise(id) {
    const box = $("#course");
    box.dataset.state = "exercise";
    fill(box, h("p", { class: "hint" }, `loading ${id}…`));
    let ex;
    try {
      ex = await api("GET", `/api/course/${enc(id)}`);
    } catch (err) {
      fill(box, backToCourse(), h("p", { class: "error" }, err.message));
      return;
    }
    renderExercise(ex);
  }

  function backToCourse() {
    return h("a", { href: "#", class: "back", onclick: (ev) => { ev.preventDefault(); $("#course").dataset.state = "list"; loadCourse(); } }, "← all exercises");
  }

  function renderExercise(ex) {
    const box = $("#course");
    box.dataset.exercise = ex.id;
    box.dataset.lab = ex.lab || "";
    box.dataset.running = String(!!ex.running);
    const used = ex.hints_shown || {};
    const hints = h("ol", { class: "hints", id: "course-hints" });
    const grade = h("div", { id: "course-grade" }, ex.grade ? lastGradeView(ex.grade) : null);
    const taskTitle = (tid) => { const t = (ex.tasks || []).find((x) => x.id === tid); return t ? t.title : tid; };
    fill(box,
      backToCourse(),
      h("h2", {}, ex.title || ex.id, h("small", {}, ` ${ex.section || ""}`)),
      ex.summary ? h("p", { class: "hint" }, ex.summary) : null,
      h("div", { class: "exercise-text", id: "course-text" }, prose(ex.text)),
      section("Tasks", h("ol", { class: "tasks" }, (ex.tasks || []).map((t) => h("li", { "data-task": t.id },
        h("b", {}, t.title), h("small", {}, ` ${t.points} point${t.points === 1 ? "" : "s"}` + (used[t.id] ? `, ${used[t.id]} of ${t.hints} hints used` : t.hints ? `, ${t.hints} hints` : "")),
        t.text ? h("div", { class: "exercise-text" }, prose(t.text)) : null,
        t.question ? answerForm(ex, t) : null)))),
      section("Hints", hints),
      h("div", { class: "toolbar" },
        ex.running ? h("button", { type: "button", class: "small", onclick: () => showLabOf(ex.lab) }, `show lab ${ex.lab}`)
          : h("button", { type: "button", class: "primary", id: "course-start", onclick: async () => {
            try { const { job } = await api("POST", `/api/course/${enc(ex.id)}/start`); V.track(job, { action: "start", lab: ex.lab, exercise: ex.id }); } catch (err) { fail("start", err); }
          } }, "start"),
        h("button", { type: "button", id: "course-hint", disabled: ex.running ? null : true, onclick: async () => {
          try {
            const r = await api("POST", `/api/course/${enc(ex.id)}/hint`);
            hints.append(h("li", {}, h("b", {}, `${taskTitle(r.task)} (${r.number}/${r.count}): `), r.hint));
          } catch (err) { hints.append(h("li", { class: "error" }, err.message)); }
        } }, "next hint"),
        h("button", { type: "button", class: ex.running ? "primary" : "", id: "course-grade-run", disabled: ex.running ? null : true, onclick: async () => {
          fill(grade, h("p", { class: "hint" }, "grading…"));
          try { fill(grade, gradeView(await api("POST", `/api/course/${enc(ex.id)}/grade`))); } catch (err) { fill(grade, h("p", { class: "error" }, err.message)); }
        } }, "grade")),
      grade);
  }

  /** An exercise's text (Markdown-like) as paragraphs, list items and `code`: never as HTML. */
  function prose(text) {
    const inline = (line) => line.split(/(`[^`]+`)/).map((part) => (part.startsWith("`") && part.endsWith("`") && part.length > 1
      ? h("code", {}, part.slice(1, -1)) : part));
    const blocks = String(text || "").trim().split(/\n\s*\n/);
    return h("div", { class: "prose" }, blocks.map((block) => {
      const lines = block.split("\n");
      if (lines.every((l) => /^\s*([-*]|\d+\.)\s/.test(l))) {
        return h("ul", {}, lines.map((l) => h("li", {}, inline(l.replace(/^\s*([-*]|\d+\.)\s+/, "")))));
      }
      if (lines.every((l) => /^( {4}|\t|\$ |# )/.test(l))) return h("pre", { class: "out" }, block);
      return h("p", {}, inline(lines.map((l) => l.trim()).join(" ")));
    }));
  }

  /** A question task's answer box (recorded; the next grade marks it). */
  function answerForm(ex, task) {
    const input = h("input", { type: "text", maxlength: 200, placeholder: "your answer", "data-testid": `answer-${task.id}` });
    const said = h("span", { class: "summary" });
    return h("form", { class: "answer", onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        const r = await api("POST", `/api/course/${enc(ex.id)}/answer`, { task: task.id, value: input.value.trim() });
        said.textContent = `recorded: ${r.value} (grade to check it)`;
      } catch (err) { said.textContent = err.message; }
    } }, input, h("button", { type: "submit", class: "small", disabled: ex.running ? null : true }, "answer"), " ", said);
  }

  function showLabOf(lab) {
    const r = S.labs.running.find((x) => x.lab === lab);
    if (r) V.selectLab(r.lab, r.file);
  }

  function lastGradeView(g) {
    return h("p", { class: "verdict " + (g.points === g.total ? "pass" : "fail") },
      `last grade: ${g.points}/${g.total} points` + (g.at ? ` (${timeOf(g.at)})` : ""));
  }

  function gradeView(g) {
    return h("div", {},
      h("p", { class: "verdict " + (g.passed ? "pass" : "fail"), id: "course-score" }, `${g.points}/${g.total} points` + (g.hints_used ? `, ${g.hints_used} hints used` : "")),
      table(["task", "points", "", "feedback"], (g.tasks || []).map((t) => [t.title || t.id, `${t.points}/${t.max}`,
        h("span", { class: t.ok ? "on" : "off" }, t.ok ? "✔" : "✘"), t.feedback || ""])));
  }

  Object.assign(V, { loadCourse, openExercise });
})(window.VnetlabPage = window.VnetlabPage || {});
