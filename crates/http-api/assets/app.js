// The dashboard's entry point: a hash router over the views, and the node's health in the bar.

import { api, forgetToken, token } from "./api.js";
import { renderJobs } from "./jobs.js";
import { renderJob, renderJobForm } from "./job.js";
import { renderOverview } from "./overview.js";

const view = document.getElementById("view");
let leave = null;

// Each view draws into `view` and returns a function that stops its timers.
function route() {
  if (leave) leave();
  leave = null;
  view.replaceChildren();
  const path = location.hash.replace(/^#/, "") || "/jobs";
  const parts = path.split("/").filter(Boolean);
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", link.dataset.nav === parts[0]);
  }
  if (parts[0] === "overview") leave = renderOverview(view);
  else if (parts[0] === "new") leave = renderJobForm(view, null);
  else if (parts[0] === "jobs" && parts[1] && parts[2] === "edit") leave = renderJobForm(view, parts[1]);
  else if (parts[0] === "jobs" && parts[1]) leave = renderJob(view, parts[1]);
  else leave = renderJobs(view);
}

async function showHealth() {
  const element = document.getElementById("node-status");
  try {
    const health = await fetch("/api/health", { cache: "no-store" }).then((r) => r.json());
    const ready = health.status === "ok" || health.ready === true;
    element.textContent = ready ? "● ready" : "● not ready";
    element.className = `node-status ${ready ? "ok" : "bad"}`;
    element.title = `this node${health.nodeId ? ` (${health.nodeId})` : ""}: ${ready ? "ready" : "not ready"}`;
  } catch {
    element.textContent = "● unreachable";
    element.className = "node-status bad";
  }
}

function showSignOut() {
  document.getElementById("sign-out").hidden = !token();
}

document.getElementById("sign-out").addEventListener("click", () => {
  forgetToken();
  showSignOut();
  route();
});
document.addEventListener("token-changed", () => {
  showSignOut();
});
window.addEventListener("hashchange", route);
showSignOut();
showHealth();
setInterval(showHealth, 10_000);
route();
// Keeps `api` reachable from the console for people poking at the API by hand.
window.schedulerApi = api;
