// Formatting shared by the views: times in the browser's zone (UTC on hover), durations,
// percentages, and small DOM helpers.

const dateTime = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});

/** Creates an element: `h("td", {class: "x", title: "y"}, child, "text")`. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** A `<time>` in the browser's zone, with the UTC instant as its title. */
export function time(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return h("span", {}, iso);
  return h("time", { datetime: iso, title: `${iso.replace("T", " ").replace(/\.\d+Z$/, "Z")} UTC` },
    dateTime.format(date));
}

export function duration(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function percent(rate) {
  if (rate === null || rate === undefined) return "—";
  return `${(rate * 100).toFixed(rate === 1 || rate === 0 ? 0 : 1)} %`;
}

/** A coloured badge for an execution status. */
export function status(value) {
  if (!value) return h("span", { class: "muted" }, "—");
  return h("span", { class: `badge status-${value.toLowerCase()}` }, value);
}

/** A job's last status, from its statistics: SUCCEEDED, FAILED or null. */
export function lastStatus(job) {
  const stats = job.stats;
  if (!stats || stats.succeeded + stats.failed === 0) return null;
  if (stats.lastStatus) return stats.lastStatus;
  return null;
}

export function toast(message, kind = "info") {
  const element = document.getElementById("toast");
  element.textContent = message;
  element.className = `toast ${kind}`;
  element.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => {
    element.hidden = true;
  }, 4000);
}

/** Asks for a confirmation in a modal dialog; resolves true when confirmed. */
export function confirmAction(title, text, action) {
  const dialog = document.getElementById("confirm-dialog");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-ok").textContent = action;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), {
      once: true,
    });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

/** The cached plain-English explanations of schedules (time zone does not change them). */
const explanations = new Map();

export async function explain(api, schedule) {
  if (explanations.has(schedule)) return explanations.get(schedule);
  const query = new URLSearchParams({ schedule, limit: "1" });
  const promise = api(`/api/cron/explain?${query}`).then(
    (answer) => answer.explanation,
    () => null,
  );
  explanations.set(schedule, promise);
  return promise;
}
