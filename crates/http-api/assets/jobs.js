// The jobs table: every job loaded page by page, then searched, filtered and paged here.

import { api } from "./api.js";
import { explain, h, lastStatus, percent, status, time } from "./format.js";

const PAGE_SIZE = 50;
// The API's largest page; the table reads at most this many pages (100,000 jobs).
const API_PAGE = 1000;
const MAX_API_PAGES = 100;
const REFRESH_MS = 15_000;
const COLUMNS = ["Name", "Schedule", "Time zone", "Type", "Paused", "Next fire", "Last status", "Success rate"];

const state = { search: "", paused: "", type: "", last: "", page: 0 };

async function loadAllJobs() {
  const jobs = [];
  let after = null;
  for (let page = 0; page < MAX_API_PAGES; page++) {
    const query = new URLSearchParams({ limit: String(API_PAGE) });
    if (after) query.set("after", after);
    const answer = await api(`/api/jobs?${query}`);
    jobs.push(...answer.jobs);
    after = answer.nextCursor;
    if (!after) break;
  }
  return jobs;
}

function matches(job) {
  const needle = state.search.trim().toLowerCase();
  if (needle) {
    const haystack = [job.name, job.jobId, job.api, job.schedule || ""].join(" ").toLowerCase();
    if (!haystack.includes(needle)) return false;
  }
  if (state.paused && String(Boolean(job.paused)) !== state.paused) return false;
  if (state.type && job.type !== state.type) return false;
  if (state.last) {
    const last = lastStatus(job) || "NONE";
    if (last !== state.last) return false;
  }
  return true;
}

function select(name, label, options) {
  return h("label", { class: "filter" }, label,
    h("select", {
      name,
      "data-filter": name,
      onchange: (event) => {
        state[name] = event.target.value;
        state.page = 0;
        event.target.dispatchEvent(new CustomEvent("filters", { bubbles: true }));
      },
    }, options.map(([value, text]) => h("option", { value, selected: state[name] === value }, text))));
}

function skeletonRows(count) {
  return Array.from({ length: count }, () =>
    h("tr", { class: "skeleton" }, COLUMNS.map(() => h("td", {}, h("span", { class: "bone" })))));
}

function jobRow(job) {
  const explanation = h("div", { class: "explain muted" }, "\u00a0");
  if (job.schedule) {
    explain(api, job.schedule).then((text) => {
      explanation.textContent = text || "\u00a0";
    });
  } else if (job.runAt) {
    explanation.replaceChildren("once at ", time(job.runAt));
  }
  const last = lastStatus(job);
  return h("tr", { "data-job-id": job.jobId },
    h("td", { class: "name" }, h("a", { href: `#/jobs/${job.jobId}` }, job.name || job.jobId.slice(0, 8))),
    h("td", {}, h("code", {}, job.schedule || "once"), explanation),
    h("td", {}, job.timezone || "UTC"),
    h("td", {}, job.type),
    h("td", {}, job.paused ? h("span", { class: "badge paused" }, "paused") : "no"),
    h("td", {}, time(job.nextFireTimes && job.nextFireTimes[0])),
    h("td", {}, status(last)),
    h("td", { class: "number" }, job.stats ? percent(job.stats.successRate) : "—"));
}

export function renderJobs(view) {
  const search = h("input", {
    type: "search",
    placeholder: "Search name, id, URL or schedule",
    "aria-label": "Search jobs",
    value: state.search,
    id: "job-search",
    oninput: (event) => {
      state.search = event.target.value;
      state.page = 0;
      draw();
    },
  });
  const toolbar = h("div", { class: "toolbar" }, search,
    select("paused", "Paused", [["", "any"], ["false", "active"], ["true", "paused"]]),
    select("type", "Type", [["", "any"], ["ATLEAST_ONCE", "at least once"], ["ATMOST_ONCE", "at most once"]]),
    select("last", "Last status", [["", "any"], ["SUCCEEDED", "succeeded"], ["FAILED", "failed"], ["NONE", "none yet"]]));
  toolbar.addEventListener("filters", () => draw());
  const body = h("tbody", {}, skeletonRows(8));
  const table = h("table", { class: "jobs", id: "jobs-table" },
    h("colgroup", {}, COLUMNS.map((_, index) => h("col", { class: `c${index}` }))),
    h("thead", {}, h("tr", {}, COLUMNS.map((name) => h("th", { scope: "col" }, name)))),
    body);
  const pager = h("div", { class: "pager" });
  const message = h("div", { class: "empty", hidden: true });
  view.append(h("h1", {}, "Jobs"), toolbar, h("div", { class: "table-wrap" }, table), message, pager);

  let jobs = null;
  let stopped = false;

  function draw() {
    if (!jobs) return;
    const shown = jobs.filter(matches);
    const pages = Math.max(1, Math.ceil(shown.length / PAGE_SIZE));
    state.page = Math.min(state.page, pages - 1);
    const start = state.page * PAGE_SIZE;
    body.replaceChildren(...shown.slice(start, start + PAGE_SIZE).map(jobRow));
    message.hidden = shown.length > 0;
    if (jobs.length === 0) {
      message.replaceChildren(h("strong", {}, "No jobs yet."), " ",
        h("a", { href: "#/new" }, "Create a job"), " to call a URL on a cron schedule, or POST one to ",
        h("code", {}, "/api/jobs"), ".");
    } else if (shown.length === 0) {
      message.replaceChildren("No job matches these filters. ",
        h("button", {
          type: "button",
          class: "link",
          onclick: () => {
            Object.assign(state, { search: "", paused: "", type: "", last: "", page: 0 });
            search.value = "";
            for (const element of toolbar.querySelectorAll("select")) element.value = "";
            draw();
          },
        }, "Clear the filters"), ".");
    }
    pager.replaceChildren(
      h("button", { type: "button", class: "button", disabled: state.page === 0, onclick: () => { state.page--; draw(); } }, "‹ Previous"),
      h("span", { class: "muted" }, shown.length === 0 ? "0 jobs"
        : `${start + 1}–${Math.min(start + PAGE_SIZE, shown.length)} of ${shown.length} job${shown.length === 1 ? "" : "s"}` +
          (shown.length !== jobs.length ? ` (${jobs.length} in all)` : "")),
      h("button", { type: "button", class: "button", disabled: state.page >= pages - 1, onclick: () => { state.page++; draw(); } }, "Next ›"));
  }

  async function refresh() {
    try {
      jobs = await loadAllJobs();
      if (!stopped) draw();
    } catch (error) {
      if (stopped) return;
      body.replaceChildren();
      message.hidden = false;
      message.replaceChildren(h("strong", {}, "Could not load the jobs: "), error.message);
    }
  }
  refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
