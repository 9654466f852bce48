// One job: its settings, next fire times, a timeline and the table of its executions; and the
// form that creates or edits a job.

import { api } from "./api.js";
import { confirmAction, duration, explain, h, percent, status, time, toast } from "./format.js";

const EXECUTIONS = 50;
const REFRESH_MS = 3_000;

function driftMs(execution) {
  if (!execution.executedTime) return null;
  return Date.parse(execution.executedTime) - Date.parse(execution.scheduledTime);
}

function settings(job) {
  const rows = [
    ["Job id", h("code", {}, job.jobId)],
    job.runAt
      ? ["Runs once at", time(job.runAt)]
      : ["Schedule", h("span", {}, h("code", {}, job.schedule), " ", h("span", { class: "muted", id: "job-explain" }, ""))],
    ...(job.startAt ? [["Starts at", time(job.startAt)]] : []),
    ...(job.endAt ? [["Ends at", time(job.endAt)]] : []),
    ...(job.jitterMs ? [["Jitter", `up to ${duration(job.jitterMs)}`]] : []),
    ...(job.done ? [["Done", h("span", {}, "yes, since ", time(job.doneAt))]] : []),
    ["Time zone", job.timezone || "UTC"],
    ["Target", h("code", { class: "wrap" }, `${job.method} ${job.api}`)],
    ["Type", job.type],
    ["Paused", job.paused ? "yes" : "no"],
    ["Timeout", duration(job.timeoutMs)],
    ["Retry", job.retry ? `${job.retry.maxAttempts} attempts, backoff ${duration(job.retry.initialBackoffMs)}–${duration(job.retry.maxBackoffMs)}` : "—"],
    ["Misfire", job.misfire ? job.misfire.policy : "—"],
    ["Overlap", job.overlap || "—"],
    ["Success rate", job.stats ? `${percent(job.stats.successRate)} (${job.stats.succeeded} succeeded, ${job.stats.failed} failed, mean ${duration(job.stats.meanDurationMs)})` : "no finished execution on this node yet"],
    ["Updated", time(job.updatedAt)],
  ];
  return h("dl", { class: "settings" }, rows.map(([name, value]) => [h("dt", {}, name), h("dd", {}, value)]));
}

function timeline(executions) {
  const oldestFirst = [...executions].reverse();
  if (oldestFirst.length === 0) {
    return h("div", { class: "timeline empty-line muted" }, "No executions yet: they appear here when the job fires, or when you trigger it.");
  }
  return h("div", { class: "timeline", role: "img", "aria-label": "the last executions, oldest first" },
    oldestFirst.map((execution) => h("span", {
      class: `tick status-${execution.status.toLowerCase()}`,
      title: `${execution.status} · scheduled ${execution.scheduledTime}${execution.httpStatus ? ` · HTTP ${execution.httpStatus}` : ""}`,
    })));
}

function executionRows(executions) {
  return executions.map((execution) => h("tr", { "data-execution-id": execution.executionId },
    h("td", {}, time(execution.scheduledTime)),
    h("td", {}, status(execution.status)),
    h("td", { class: "number" }, execution.httpStatus ?? "—"),
    h("td", { class: "number" }, duration(execution.durationMs)),
    h("td", { class: "number" }, duration(driftMs(execution))),
    h("td", { class: "number" }, execution.attempts),
    h("td", { class: "error-text", title: execution.errorMessage || "" }, execution.errorMessage || ""),
  ));
}

export function renderJob(view, jobId) {
  let job = null;
  let stopped = false;
  const title = h("h1", {}, h("span", { class: "bone wide" }));
  const actions = h("div", { class: "actions job-actions" });
  const details = h("section", { class: "card" }, h("div", { class: "bone block" }));
  const upcoming = h("ol", { class: "upcoming" });
  let line = h("div", { class: "timeline" });
  const body = h("tbody", {});
  view.append(
    h("p", {}, h("a", { href: "#/jobs" }, "‹ All jobs")),
    h("div", { class: "title-row" }, title, actions),
    h("div", { class: "two" }, details, h("section", { class: "card" }, h("h2", {}, "Next fire times"), upcoming)),
    h("section", { class: "card" }, h("h2", {}, "Last executions"), line),
    h("section", { class: "card" }, h("h2", {}, "Executions"),
      h("div", { class: "table-wrap" }, h("table", { class: "executions", id: "executions-table" },
        h("thead", {}, h("tr", {}, ["Scheduled", "Status", "HTTP", "Duration", "Drift", "Attempts", "Error"].map((name) => h("th", { scope: "col" }, name)))),
        body))));

  async function act(label, call) {
    try {
      await call();
      toast(label, "ok");
      await refresh();
    } catch (error) {
      toast(error.message, "bad");
    }
  }

  function drawJob() {
    title.replaceChildren(job.name || job.jobId);
    details.replaceChildren(h("h2", {}, "Settings"), settings(job));
    if (job.schedule) explain(api, job.schedule).then((text) => {
      const element = document.getElementById("job-explain");
      if (element && text) element.textContent = `(${text})`;
    });
    upcoming.replaceChildren(...(job.nextFireTimes && job.nextFireTimes.length
      ? job.nextFireTimes.map((iso) => h("li", {}, time(iso)))
      : [h("li", { class: "muted" }, job.paused ? "None while paused: resume the job to schedule it." : job.done ? "None: the job is done." : "None.")]));
    actions.replaceChildren(
      h("a", { class: "button", href: `#/jobs/${jobId}/edit`, id: "edit-job" }, "Edit"),
      job.paused
        ? h("button", { type: "button", class: "button", id: "resume-job", onclick: () => act("Resumed", () => api(`/api/jobs/${jobId}/resume`, { method: "POST", body: {} })) }, "Resume")
        : h("button", { type: "button", class: "button", id: "pause-job", onclick: () => act("Paused", () => api(`/api/jobs/${jobId}/pause`, { method: "POST", body: {} })) }, "Pause"),
      h("button", { type: "button", class: "button", id: "trigger-job", onclick: () => act("Triggered: the execution appears below", () => api(`/api/jobs/${jobId}/trigger`, { method: "POST", body: {} })) }, "Trigger now"),
      h("button", {
        type: "button",
        class: "button danger",
        id: "delete-job",
        onclick: async () => {
          const sure = await confirmAction("Delete this job?",
            `“${job.name || job.jobId}” and its execution history are deleted for good.`, "Delete");
          if (!sure) return;
          try {
            await api(`/api/jobs/${jobId}`, { method: "DELETE" });
            toast("Deleted", "ok");
            location.hash = "#/jobs";
          } catch (error) {
            toast(error.message, "bad");
          }
        },
      }, "Delete"));
  }

  async function refresh() {
    try {
      const [loaded, history] = await Promise.all([
        api(`/api/jobs/${jobId}`),
        api(`/api/jobs/${jobId}/executions?limit=${EXECUTIONS}`),
      ]);
      if (stopped) return;
      job = loaded;
      drawJob();
      line.replaceWith(line = timeline(history.executions));
      body.replaceChildren(...executionRows(history.executions));
    } catch (error) {
      if (stopped) return;
      if (error.status === 404) {
        title.replaceChildren("Job not found");
        details.replaceChildren(h("p", {}, "This job does not exist (it may have been deleted). ", h("a", { href: "#/jobs" }, "Back to the jobs"), "."));
        stopped = true;
      } else {
        toast(`Could not load the job: ${error.message}`, "bad");
      }
    }
  }
  refresh();
  const timer = setInterval(() => { if (!stopped) refresh(); }, REFRESH_MS);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}

// The form's fields: the API field each edits, its label, and how it reads and writes a value.
const FIELDS = [
  { name: "name", label: "Name", input: "text", placeholder: "nightly-report" },
  { name: "schedule", label: "Schedule (cron, with seconds)", input: "text", placeholder: "0 */5 * * * *", hint: "six fields: second minute hour day-of-month month day-of-week" },
  { name: "runAt", label: "Or run once at", input: "text", placeholder: "2030-01-01T09:00:00Z", hint: "an RFC 3339 instant, instead of a schedule" },
  { name: "timezone", label: "Time zone", input: "text", placeholder: "UTC", hint: "an IANA name such as Europe/Berlin" },
  { name: "api", label: "Target URL", input: "url", placeholder: "https://example.com/hook", required: true },
  { name: "method", label: "Method", input: "select", options: ["GET", "POST", "PUT", "PATCH", "DELETE"] },
  { name: "type", label: "Delivery", input: "select", options: ["ATLEAST_ONCE", "ATMOST_ONCE"] },
  { name: "timeoutMs", label: "Timeout (ms)", input: "number" },
  { name: "retry.maxAttempts", label: "Attempts", input: "number" },
  { name: "headers", label: "Headers (one Name: value a line)", input: "textarea" },
  { name: "body", label: "Body", input: "textarea" },
  { name: "paused", label: "Paused", input: "checkbox" },
];

function fieldValue(job, name) {
  if (name === "retry.maxAttempts") return job.retry ? job.retry.maxAttempts : "";
  if (name === "headers") return Object.entries(job.headers || {}).map(([key, value]) => `${key}: ${value}`).join("\n");
  return job[name] ?? "";
}

function inputFor(field, job) {
  const id = `field-${field.name.replace(".", "-")}`;
  const value = job ? fieldValue(job, field.name) : field.name === "method" ? "POST" : "";
  let input;
  if (field.input === "select") {
    input = h("select", { id, name: field.name }, field.options.map((option) => h("option", { value: option, selected: value === option }, option)));
  } else if (field.input === "textarea") {
    input = h("textarea", { id, name: field.name, rows: 3 }, value);
  } else if (field.input === "checkbox") {
    input = h("input", { id, name: field.name, type: "checkbox", checked: Boolean(value) });
  } else {
    input = h("input", { id, name: field.name, type: field.input, value, placeholder: field.placeholder, required: field.required, autocomplete: "off", spellcheck: "false" });
  }
  return h("div", { class: `field field-${field.input}`, "data-field": field.name },
    h("label", { for: id }, field.label),
    input,
    field.hint ? h("small", { class: "muted" }, field.hint) : null,
    field.name === "schedule" ? h("p", { class: "explain-live", id: "schedule-explain", "aria-live": "polite" }, "\u00a0") : null,
    h("p", { class: "field-error", id: `${id}-error` }));
}

function readForm(form, base) {
  const body = base ? { ...base } : {};
  const get = (name) => form.elements.namedItem(name);
  const text = (name) => get(name).value.trim();
  body.name = text("name") || null;
  // A one-off job names its instant instead of a schedule; the server refuses both or neither.
  if (text("runAt") && !text("schedule")) {
    body.runAt = text("runAt");
    delete body.schedule;
  } else {
    body.schedule = text("schedule");
    if (text("runAt")) body.runAt = text("runAt");
    else delete body.runAt;
  }
  if (text("timezone")) body.timezone = text("timezone");
  else delete body.timezone;
  body.api = text("api");
  body.method = get("method").value;
  body.type = get("type").value;
  // A number that is not one is sent as typed, for the server to name the field.
  const number = (name) => (Number.isFinite(Number(text(name))) ? Number(text(name)) : text(name));
  if (text("timeoutMs")) body.timeoutMs = number("timeoutMs");
  else if (!base) delete body.timeoutMs;
  if (text("retry.maxAttempts")) body.retry = { ...(body.retry || {}), maxAttempts: number("retry.maxAttempts") };
  const headers = {};
  for (const line of get("headers").value.split("\n")) {
    if (!line.trim()) continue;
    const colon = line.indexOf(":");
    if (colon < 0) headers[line.trim()] = "";
    else headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  body.headers = headers;
  body.body = get("body").value === "" ? null : get("body").value;
  body.paused = get("paused").checked;
  return body;
}

/** Shows an API error beside the field it names; returns false when no field shows it. */
function showFieldError(form, error) {
  if (!error.field) return false;
  const names = [error.field, error.field.split(".")[0], error.field.split("[")[0]];
  for (const name of names) {
    const field = form.querySelector(`[data-field="${CSS.escape(name)}"]`);
    if (field) {
      field.classList.add("invalid");
      field.querySelector(".field-error").textContent = error.message;
      const input = field.querySelector("input, select, textarea");
      if (input) input.setAttribute("aria-invalid", "true");
      // The server's message replaces the live explanation, which would only repeat it.
      const live = field.querySelector(".explain-live");
      if (live) {
        live.textContent = "\u00a0";
        live.className = "explain-live";
      }
      return true;
    }
  }
  return false;
}

function clearErrors(form) {
  for (const field of form.querySelectorAll(".field.invalid")) {
    field.classList.remove("invalid");
    field.querySelector(".field-error").textContent = "";
    const input = field.querySelector("[aria-invalid]");
    if (input) input.removeAttribute("aria-invalid");
  }
}

export function renderJobForm(view, jobId) {
  let stopped = false;
  let loaded = null;
  const formError = h("p", { class: "form-error", id: "form-error" });
  const form = h("form", { class: "job-form card", id: "job-form", novalidate: true });
  view.append(
    h("p", {}, h("a", { href: jobId ? `#/jobs/${jobId}` : "#/jobs" }, "‹ Back")),
    h("h1", {}, jobId ? "Edit job" : "New job"), form);

  let explainTimer = null;
  let explainSeq = 0;
  function explainLive() {
    clearTimeout(explainTimer);
    explainTimer = setTimeout(async () => {
      const output = document.getElementById("schedule-explain");
      const schedule = form.elements.namedItem("schedule").value.trim();
      const timezone = form.elements.namedItem("timezone").value.trim();
      if (!output) return;
      if (!schedule) {
        output.textContent = "\u00a0";
        output.className = "explain-live";
        return;
      }
      const seq = ++explainSeq;
      const query = new URLSearchParams({ schedule, limit: "3" });
      if (timezone) query.set("timezone", timezone);
      try {
        const answer = await api(`/api/cron/explain?${query}`);
        if (seq !== explainSeq || stopped) return;
        const next = answer.nextFireTimes.map((iso) => new Date(iso).toLocaleString()).join(", ");
        output.textContent = `${answer.explanation}${next ? ` — next: ${next}` : ""}`;
        output.className = "explain-live ok";
      } catch (error) {
        if (seq !== explainSeq || stopped) return;
        output.textContent = error.message;
        output.className = "explain-live bad";
      }
    }, 200);
  }

  function draw(job) {
    form.replaceChildren(
      h("div", { class: "fields" }, FIELDS.map((field) => inputFor(field, job))),
      formError,
      h("div", { class: "actions" },
        h("a", { class: "button", href: jobId ? `#/jobs/${jobId}` : "#/jobs" }, "Cancel"),
        h("button", { class: "button primary", type: "submit", id: "save-job" }, jobId ? "Save" : "Create job")));
    form.elements.namedItem("schedule").addEventListener("input", explainLive);
    form.elements.namedItem("timezone").addEventListener("input", explainLive);
    explainLive();
  }

  // Typing in a field clears the error shown beside it.
  form.addEventListener("input", (event) => {
    const field = event.target.closest(".field.invalid");
    if (!field) return;
    field.classList.remove("invalid");
    field.querySelector(".field-error").textContent = "";
    event.target.removeAttribute("aria-invalid");
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    formError.textContent = "";
    const body = readForm(form, loaded);
    try {
      const saved = jobId
        ? await api(`/api/jobs/${jobId}`, { method: "PUT", body })
        : await api("/api/jobs", { method: "POST", body });
      toast(jobId ? "Saved" : "Created", "ok");
      location.hash = `#/jobs/${saved.jobId}`;
    } catch (error) {
      if (!showFieldError(form, error)) {
        formError.textContent = error.field ? `${error.field}: ${error.message}` : error.message;
      }
    }
  });

  if (jobId) {
    form.append(h("div", { class: "bone block" }));
    api(`/api/jobs/${jobId}`).then((job) => {
      if (stopped) return;
      loaded = job;
      draw(job);
    }, (error) => {
      form.replaceChildren(h("p", { class: "form-error" }, `Could not load the job: ${error.message}`));
    });
  } else {
    draw(null);
  }
  return () => {
    stopped = true;
    clearTimeout(explainTimer);
  };
}
