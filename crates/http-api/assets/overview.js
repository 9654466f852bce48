// The live overview: executions per second, drift, in-flight and waiting as uPlot charts that
// update every few seconds, the job counts, and the nodes that share the store.

import { api } from "./api.js";
import { h, time } from "./format.js";

const POLL_MS = 2_000;
// Five minutes of points at one every two seconds.
const KEEP_POINTS = 150;
const CHART_HEIGHT = 180;

function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function makeChart(container, series) {
  const axis = { stroke: css("--muted"), grid: { stroke: css("--grid"), width: 1 }, ticks: { stroke: css("--grid"), width: 1 } };
  const options = {
    width: Math.max(container.clientWidth, 200),
    height: CHART_HEIGHT,
    legend: { live: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true }, y: { range: (_, min, max) => [0, Math.max(1, max * 1.1)] } },
    axes: [axis, { ...axis, size: 56 }],
    series: [{}, ...series.map(([label, color]) => ({ label, stroke: color, width: 2, points: { show: false } }))],
  };
  const data = [[], ...series.map(() => [])];
  return new window.uPlot(options, data, container);
}

function tile(label, id) {
  return h("div", { class: "tile" }, h("div", { class: "muted" }, label), h("div", { class: "tile-value", id }, "—"));
}

export function renderOverview(view) {
  let stopped = false;
  const throughputBox = h("div", { class: "chart", id: "chart-throughput" });
  const driftBox = h("div", { class: "chart", id: "chart-drift" });
  const loadBox = h("div", { class: "chart", id: "chart-load" });
  const nodes = h("tbody", {}, h("tr", { class: "skeleton" }, h("td", { colspan: 3 }, h("span", { class: "bone" }))));
  view.append(
    h("h1", {}, "Overview"),
    h("div", { class: "tiles" },
      tile("Active jobs", "tile-active"), tile("Paused jobs", "tile-paused"),
      tile("Succeeded", "tile-succeeded"), tile("Failed", "tile-failed"),
      tile("In flight", "tile-in-flight"), tile("Uptime", "tile-uptime")),
    h("div", { class: "charts" },
      h("section", { class: "card" }, h("h2", {}, "Executions per second"), throughputBox),
      h("section", { class: "card" }, h("h2", {}, "Drift (ms, since start)"), driftBox),
      h("section", { class: "card" }, h("h2", {}, "In flight and waiting"), loadBox)),
    h("section", { class: "card" }, h("h2", {}, "Nodes"),
      h("div", { class: "table-wrap" }, h("table", { class: "nodes", id: "nodes-table" },
        h("thead", {}, h("tr", {}, ["Node", "Last heartbeat", "State"].map((name) => h("th", { scope: "col" }, name)))),
        nodes))));

  const charts = [];
  const data = { t: [], rate: [], p50: [], p99: [], inFlight: [], waiting: [] };
  let previous = null;

  function ensureCharts() {
    if (charts.length || !window.uPlot) return;
    charts.push(
      [makeChart(throughputBox, [["finished/s", css("--accent")], ["fired/s", css("--ok")]]), () => [data.t, data.rate, data.fired]],
      [makeChart(driftBox, [["p50", css("--ok")], ["p99", css("--warn")]]), () => [data.t, data.p50, data.p99]],
      [makeChart(loadBox, [["in flight", css("--accent")], ["waiting", css("--warn")]]), () => [data.t, data.inFlight, data.waiting]],
    );
  }
  data.fired = [];

  function push(key, value) {
    data[key].push(value);
    if (data[key].length > KEEP_POINTS) data[key].shift();
  }

  async function poll() {
    try {
      const metrics = await api("/api/metrics");
      if (stopped) return;
      const now = Date.now() / 1000;
      const engine = metrics.engine;
      const finished = engine.succeeded + engine.failed;
      if (previous) {
        const seconds = Math.max(now - previous.t, 0.001);
        push("t", now);
        push("rate", Math.max(0, (finished - previous.finished) / seconds));
        push("fired", Math.max(0, (engine.fired - previous.fired) / seconds));
        push("p50", metrics.drift.p50Ms);
        push("p99", metrics.drift.p99Ms);
        push("inFlight", engine.inFlight);
        push("waiting", engine.waiting);
      }
      previous = { t: now, finished, fired: engine.fired };
      ensureCharts();
      for (const [chart, series] of charts) chart.setData(series());
      for (const box of [throughputBox, driftBox, loadBox]) box.dataset.points = String(data.t.length);
      const set = (id, value) => {
        const element = document.getElementById(id);
        if (element) element.textContent = value;
      };
      set("tile-active", metrics.jobs.active);
      set("tile-paused", metrics.jobs.paused);
      set("tile-succeeded", engine.succeeded);
      set("tile-failed", engine.failed);
      set("tile-in-flight", engine.inFlight);
      set("tile-uptime", `${Math.floor(metrics.uptimeSeconds / 3600)} h ${Math.floor((metrics.uptimeSeconds % 3600) / 60)} min`);
      const list = metrics.nodes && metrics.nodes.length
        ? metrics.nodes
        : [{ nodeId: metrics.nodeId, lastHeartbeat: null, live: !metrics.fenced }];
      nodes.replaceChildren(...list.map((node) => h("tr", {},
        h("td", {}, h("code", {}, node.nodeId), node.nodeId === metrics.nodeId ? h("span", { class: "muted" }, " (this node)") : null),
        h("td", {}, time(node.lastHeartbeat)),
        h("td", {}, h("span", { class: `badge ${node.live ? "status-succeeded" : "status-failed"}` }, node.live ? "live" : "silent")))));
    } catch (error) {
      if (!stopped) nodes.replaceChildren(h("tr", {}, h("td", { colspan: 3 }, `Could not read the metrics: ${error.message}`)));
    }
  }

  function resize() {
    for (const [chart] of charts) {
      chart.setSize({ width: Math.max(chart.root.parentElement.clientWidth, 200), height: CHART_HEIGHT });
    }
  }
  window.addEventListener("resize", resize);
  poll();
  const timer = setInterval(poll, POLL_MS);
  return () => {
    stopped = true;
    clearInterval(timer);
    window.removeEventListener("resize", resize);
    for (const [chart] of charts) chart.destroy();
  };
}
