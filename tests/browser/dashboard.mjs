// End-to-end checks of the dashboard in headless Chromium, driven by playwright-core.
// Run by tests/black_box/dashboard.rs, which starts the servers and passes:
//   DASHBOARD_URL             a server whose database holds no token
//   DASHBOARD_TOKEN_URL       a server whose database holds DASHBOARD_TOKEN (admin)
//   DASHBOARD_TARGET          the URL the job made in the browser calls
//   DASHBOARD_BACKGROUND_TARGET  the URL of a second job, made through the API, that fires every 2 s
//   DASHBOARD_CHROMIUM        the browser executable
//   DASHBOARD_PROFILE         a fresh, empty profile directory
//   DASHBOARD_SCREENSHOTS     where the screenshots go
//   DASHBOARD_README_SHOT     optional: where to save the README's screenshot
// Every wait is for a selector or a condition, bounded by the default timeout.

import assert from "node:assert/strict";
import path from "node:path";
import { chromium } from "playwright-core";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const BASE = env("DASHBOARD_URL");
const TOKEN_BASE = env("DASHBOARD_TOKEN_URL");
const TOKEN = env("DASHBOARD_TOKEN");
const TARGET = env("DASHBOARD_TARGET");
const BACKGROUND_TARGET = env("DASHBOARD_BACKGROUND_TARGET");
const SHOTS = env("DASHBOARD_SCREENSHOTS");
const TIMEOUT = 20_000;

function step(text) {
  console.log(`- ${text}`);
}

const context = await chromium.launchPersistentContext(env("DASHBOARD_PROFILE"), {
  executablePath: env("DASHBOARD_CHROMIUM"),
  headless: true,
  viewport: { width: 1280, height: 800 },
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
context.setDefaultTimeout(TIMEOUT);

// Problems the page reports: script errors, CSP violations, failed asset loads. Chromium also
// logs the API's expected 4xx answers (401 before the token, 400 for a bad schedule, 404 for a
// job just deleted) as failed resources; those are not problems.
const problems = [];
function watch(page) {
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const text = message.text();
    const url = message.location().url || "";
    if (/status of 4\d\d/.test(text) && new URL(url, BASE).pathname.startsWith("/api/")) return;
    problems.push(`console: ${text} (${url})`);
  });
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

const page = context.pages()[0] || (await context.newPage());
try {
  watch(page);

  step("the empty jobs table says what to do");
  await page.goto(BASE);
  await page.getByText("No jobs yet.").waitFor();
  assert.equal(await page.locator("#jobs-table tbody tr").count(), 0);

  // A job that fires every two seconds, made through the API, so that executions and charts move.
  const background = await fetch(new URL("/api/jobs", BASE), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name: "heartbeat", schedule: "*/2 * * * * *", api: BACKGROUND_TARGET, type: "ATLEAST_ONCE" }),
  });
  assert.equal(background.status, 201, await background.text());

  step("create a job in the form; the schedule is explained as it is typed");
  await page.click("#new-job");
  await page.fill("#field-name", "nightly-report");
  await page.fill("#field-schedule", "0 0 3 * * *");
  await page.locator("#schedule-explain.ok").waitFor();
  assert.match(await page.textContent("#schedule-explain"), /03:00/);
  await page.fill("#field-api", TARGET);
  await page.click("#save-job");
  await page.locator("h1", { hasText: "nightly-report" }).waitFor();
  const jobId = page.url().split("#/jobs/")[1];
  assert.match(jobId, /^[0-9a-f-]{36}$/);

  step("edit with a bad schedule: the server's message appears beside the field");
  await page.click("#edit-job");
  await page.locator("#field-schedule").waitFor();
  assert.equal(await page.inputValue("#field-schedule"), "0 0 3 * * *");
  await page.fill("#field-schedule", "0 0 3 * * FRX");
  await page.locator("#schedule-explain.bad").waitFor();
  await page.click("#save-job");
  await page.locator(".field.invalid[data-field=schedule]").waitFor();
  const message = await page.textContent("#field-schedule-error");
  assert.match(message, /day-of-week/);
  assert.match(message, /column/);
  assert.equal(await page.textContent("#form-error"), "", "no form-level error: it is beside its field");
  await shot(page, "edit-error");

  step("edit with a good schedule");
  await page.fill("#field-schedule", "0 30 3 * * MON-FRI");
  await page.locator("#schedule-explain.ok").waitFor();
  await page.click("#save-job");
  await page.locator("h1", { hasText: "nightly-report" }).waitFor();
  await page.locator("dd code", { hasText: "0 30 3 * * MON-FRI" }).waitFor();

  step("pause, then trigger; the execution appears");
  await page.click("#pause-job");
  await page.locator("#resume-job").waitFor();
  assert.equal(await page.locator(".upcoming li").first().textContent(), "None while paused: resume the job to schedule it.");
  await page.click("#trigger-job");
  await page.locator("#executions-table tbody tr .status-succeeded").first().waitFor();
  await page.locator(".timeline .tick.status-succeeded").first().waitFor();
  const httpStatus = await page.locator("#executions-table tbody tr td").nth(2).textContent();
  assert.equal(httpStatus, "200");
  const scheduled = page.locator("#executions-table tbody tr time").first();
  assert.match(await scheduled.getAttribute("title"), /UTC$/, "UTC on hover");
  await shot(page, "job");

  step("the jobs table: search and filters");
  await page.click("[data-nav=jobs]");
  await page.locator("#jobs-table tbody tr[data-job-id]").nth(1).waitFor();
  await page.locator("#jobs-table .explain", { hasText: "03:30" }).waitFor();
  await page.selectOption("[data-filter=paused]", "true");
  await page.waitForFunction(() => document.querySelectorAll("#jobs-table tbody tr[data-job-id]").length === 1);
  assert.match(await page.textContent("#jobs-table tbody"), /nightly-report/);
  await page.selectOption("[data-filter=paused]", "");
  await page.fill("#job-search", "heartbeat");
  await page.waitForFunction(() => document.querySelectorAll("#jobs-table tbody tr[data-job-id]").length === 1);
  assert.match(await page.textContent("#jobs-table tbody"), /heartbeat/);
  await page.fill("#job-search", "");
  await page.locator("#jobs-table tbody tr[data-job-id]").nth(1).waitFor();
  await page.locator("#jobs-table tbody .status-succeeded").nth(1).waitFor();
  await shot(page, "jobs");

  step("the overview's charts render and update");
  await page.click("[data-nav=overview]");
  await page.waitForFunction(() => Number(document.querySelector("#chart-throughput")?.dataset.points) >= 3, null, { timeout: 30_000 });
  const inked = await page.evaluate(() =>
    [...document.querySelectorAll(".chart canvas")].map((canvas) => {
      const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
      let painted = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) painted++;
      return painted;
    }));
  assert.equal(inked.length, 3, "three charts");
  for (const painted of inked) assert.ok(painted > 500, `a chart's canvas is drawn on (${painted} pixels)`);
  await page.locator("#nodes-table tbody tr .status-succeeded", { hasText: "live" }).waitFor();
  assert.notEqual(await page.textContent("#tile-active"), "—");
  await shot(page, "overview");

  step("delete with a confirmation: cancel keeps the job, confirm deletes it");
  await page.goto(`${BASE}#/jobs/${jobId}`);
  await page.locator("#delete-job").click();
  await page.locator("#confirm-dialog[open]").waitFor();
  await page.click("#confirm-dialog button[value=cancel]");
  await page.locator("#confirm-dialog[open]").waitFor({ state: "detached" });
  assert.equal((await fetch(new URL(`/api/jobs/${jobId}`, BASE))).status, 200);
  await page.locator("#delete-job").click();
  await page.click("#confirm-ok");
  await page.waitForFunction(() => location.hash === "#/jobs");
  await page.locator("#jobs-table tbody tr[data-job-id]").first().waitFor();
  assert.equal(await page.locator(`#jobs-table tbody tr[data-job-id="${jobId}"]`).count(), 0);
  assert.equal((await fetch(new URL(`/api/jobs/${jobId}`, BASE))).status, 404);

  step("a one-off job made in the form: its instant is shown instead of a schedule");
  await page.click("#new-job");
  await page.fill("#field-name", "one-off");
  await page.fill("#field-runAt", "2099-01-01T09:00:00Z");
  await page.fill("#field-api", TARGET);
  await page.click("#save-job");
  await page.locator("h1", { hasText: "one-off" }).waitFor();
  const onceId = page.url().split("#/jobs/")[1];
  await page.locator("dt", { hasText: "Runs once at" }).waitFor();
  const once = await (await fetch(new URL(`/api/jobs/${onceId}`, BASE))).json();
  assert.equal(once.schedule, null);
  assert.equal(once.runAt, "2099-01-01T09:00:00.000Z");
  await page.goto(`${BASE}#/jobs`);
  await page.locator(`#jobs-table tbody tr[data-job-id="${onceId}"] code`, { hasText: "once" }).waitFor();

  step("a phone's width, and dark mode");
  await page.setViewportSize({ width: 390, height: 844 });
  await page.locator("#jobs-table tbody tr[data-job-id]").first().waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page fits a phone's width (${overflow} px too wide); the table scrolls inside its box`);
  await shot(page, "phone");
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.emulateMedia({ colorScheme: "dark" });
  // The heartbeat job by its name: the table lists jobs by id, which is random.
  const heartbeat = await page
    .locator("#jobs-table tbody tr[data-job-id]", { hasText: "heartbeat" })
    .first()
    .getAttribute("data-job-id");
  await page.goto(`${BASE}#/jobs/${heartbeat}`);
  await page.locator("#executions-table tbody tr").first().waitFor();
  const background_colour = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(background_colour, "rgb(18, 21, 27)", "the dark palette applies");
  await shot(page, "dark");
  await page.emulateMedia({ colorScheme: "light" });

  if (process.env.DASHBOARD_README_SHOT) {
    await page.setViewportSize({ width: 1100, height: 860 });
    await page.reload();
    await page.locator(".timeline .tick.status-succeeded").nth(5).waitFor();
    await page.screenshot({ path: process.env.DASHBOARD_README_SHOT });
    await page.setViewportSize({ width: 1280, height: 800 });
  }

  step("a server with tokens: the dashboard asks for one and keeps it for the session only");
  const guarded = await context.newPage();
  watch(guarded);
  await guarded.goto(TOKEN_BASE);
  await guarded.locator("#token-dialog[open]").waitFor();
  await shot(guarded, "token");
  await guarded.fill("#token-input", "sched_0000000000000000_" + "0".repeat(64));
  await guarded.click("#token-dialog button[value=ok]");
  await guarded.locator("#token-dialog[open]").waitFor();
  assert.match(await guarded.textContent("#token-error"), /unknown token|invalid token/);
  await guarded.fill("#token-input", TOKEN);
  await guarded.click("#token-dialog button[value=ok]");
  await guarded.getByText("No jobs yet.").waitFor();
  assert.equal(await guarded.evaluate(() => sessionStorage.getItem("scheduler.token")), TOKEN);
  assert.equal(await guarded.evaluate(() => localStorage.length), 0, "nothing in local storage");
  await guarded.locator("#sign-out:not([hidden])").waitFor();

  step("more jobs than one API page: the table reads them all and pages through them");
  const MANY = 1_050;
  const names = Array.from({ length: MANY }, (_, index) => `bulk-${String(index).padStart(4, "0")}`);
  for (let start = 0; start < MANY; start += 25) {
    await Promise.all(names.slice(start, start + 25).map(async (name) => {
      const answer = await fetch(new URL("/api/jobs", TOKEN_BASE), {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify({ name, schedule: "0 0 0 1 1 *", api: BACKGROUND_TARGET, type: "ATMOST_ONCE", paused: true }),
      });
      assert.equal(answer.status, 201, await answer.text());
    }));
  }
  await guarded.reload();
  await guarded.locator(".pager", { hasText: `1–50 of ${MANY} jobs` }).waitFor();
  assert.equal(await guarded.locator("#jobs-table tbody tr[data-job-id]").count(), 50);
  await guarded.click(".pager button:has-text('Next')");
  await guarded.locator(".pager", { hasText: `51–100 of ${MANY} jobs` }).waitFor();
  await guarded.fill("#job-search", "bulk-1049");
  await guarded.locator(".pager", { hasText: `1–1 of 1 job (${MANY} in all)` }).waitFor();
  await guarded.selectOption("[data-filter=paused]", "false");
  await guarded.getByText("No job matches these filters.").waitFor();

  assert.deepEqual(problems, [], "the pages reported no errors");
  console.log("all dashboard checks passed");
} catch (error) {
  // What the page showed when a check failed, for the test's report.
  await page.screenshot({ path: path.join(SHOTS, "failure.png") }).catch(() => {});
  console.log(`page at failure: ${page.url()}\n${await page.locator("main").innerText().catch(() => "")}`);
  if (problems.length) console.log(`problems: ${problems.join("\n")}`);
  throw error;
} finally {
  await context.close();
}
