// cimkit dashboard: plain JavaScript over the JSON API of cimkit.dashboard.app (no build step).
// Everything user-provided (run names, gene names) goes through textContent, never innerHTML.
"use strict";

const PAGE_SIZE = 25;
const POLL_MS = 3000;
const PLOT_CONFIG = { displaylogo: false, responsive: true };

const state = {
  runs: [],
  run: null, // selected run name
  runData: null,
  table: null, // {columns, rows}
  sort: { key: "design", dir: 1 },
  filters: {},
  page: 0,
  design: null,
  view: "empty", // "run" | "compare" | "empty"
  compare: null, // [a, b]
  loaded: {}, // run name -> "status/gen/n_designs" of what is on screen
  busy: false,
};

const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function fmt(v, digits = 4) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "boolean") return v ? "yes" : "";
  if (typeof v === "string") return v;
  if (Number.isInteger(v) && Math.abs(v) < 1e6) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(digits - 1);
  return String(Number(v.toPrecision(digits)));
}

function si(v, unit) {
  if (v === null || v === undefined) return "–";
  const steps = [[1e-12, "p"], [1e-9, "n"], [1e-6, "µ"], [1e-3, "m"], [1, ""], [1e3, "k"], [1e6, "M"], [1e9, "G"]];
  for (const [f, p] of steps) if (Math.abs(v) < f * 1000) return `${Number((v / f).toPrecision(3))} ${p}${unit}`;
  return `${v.toExponential(2)} ${unit}`;
}

function message(text) {
  $("message").textContent = text || "";
}

async function api(path) {
  const res = await fetch(path, { cache: "no-store" });
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || `${res.status} ${res.statusText}`);
  return body;
}

// --- routing (#run=NAME&design=I or #compare=A&b=B) ------------------------------------------
function readHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  if (p.get("compare")) return { view: "compare", a: p.get("compare"), b: p.get("b") || p.get("compare") };
  if (p.get("run")) return { view: "run", run: p.get("run"), design: p.has("design") ? Number(p.get("design")) : null };
  return { view: "empty" };
}

function writeHash() {
  const p = new URLSearchParams();
  if (state.view === "run" && state.run) {
    p.set("run", state.run);
    if (state.design !== null) p.set("design", state.design);
  } else if (state.view === "compare" && state.compare) {
    p.set("compare", state.compare[0]);
    p.set("b", state.compare[1]);
  }
  const h = "#" + p.toString();
  if (location.hash !== h) history.replaceState(null, "", h);
}

async function route() {
  const h = readHash();
  if (h.view === "run") await openRun(h.run, h.design);
  else if (h.view === "compare") await openCompare(h.a, h.b);
}

// --- runs list ------------------------------------------------------------------------------
function signature(r) {
  return `${r.status}/${r.gen}/${r.n_designs}`;
}

async function refreshRuns() {
  const data = await api("/api/runs");
  $("store").textContent = data.store;
  state.runs = data.runs;
  const tbody = $("runs").querySelector("tbody");
  tbody.replaceChildren();
  for (const r of data.runs) {
    const tr = el("tr");
    tr.dataset.run = r.name;
    tr.dataset.status = r.status;
    if (r.name === state.run && state.view === "run") tr.classList.add("selected");
    const name = el("td", r.name, "name");
    name.title = r.name; // full name when the cell cuts it
    tr.append(name);
    const st = el("td");
    st.append(el("span", r.status, `badge status-${r.status}`));
    tr.append(st);
    tr.append(el("td", r.n_gen !== null && r.n_gen !== undefined ? `${Math.max(r.gen, 0)}/${r.n_gen}` : r.gen));
    tr.append(el("td", r.n_designs));
    const best = el("td", fmt(r.best));
    best.title = `best ${r.objective.label} (${r.objective.algorithm})`;
    tr.append(best);
    tr.addEventListener("click", () => openRun(r.name, null));
    tbody.append(tr);
  }
  $("no-runs").hidden = data.runs.length > 0;
  for (const id of ["cmp-a", "cmp-b"]) {
    const sel = $(id);
    const keep = sel.value;
    sel.replaceChildren(...data.runs.map((r) => {
      const o = el("option", r.name);
      o.value = r.name;
      return o;
    }));
    if (keep && data.runs.some((r) => r.name === keep)) sel.value = keep;
  }
  // Until the user picks, compare the first two runs (a and b default to different runs).
  if (!$("cmp-b").dataset.touched && data.runs.length > 1 && $("cmp-b").value === $("cmp-a").value) {
    $("cmp-b").value = data.runs.find((r) => r.name !== $("cmp-a").value).name;
  }
  $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  return data.runs;
}

// --- one run --------------------------------------------------------------------------------
function show(view) {
  state.view = view;
  $("empty").hidden = view !== "empty";
  $("run-view").hidden = view !== "run";
  $("compare-view").hidden = view !== "compare";
}

async function openRun(name, design) {
  const fresh = name !== state.run;
  state.run = name;
  if (fresh) {
    state.filters = {};
    state.page = 0;
    state.sort = { key: "design", dir: 1 };
    state.design = null;
    $("design-view").hidden = true;
  }
  show("run");
  for (const tr of $("runs").querySelectorAll("tbody tr")) tr.classList.toggle("selected", tr.dataset.run === name);
  await loadRun();
  if (design !== null && design !== undefined) await selectDesign(design);
  writeHash();
}

async function loadRun() {
  const name = state.run;
  const [run, table] = await Promise.all([
    api(`/api/run?name=${encodeURIComponent(name)}`),
    api(`/api/designs?run=${encodeURIComponent(name)}`),
  ]);
  if (name !== state.run) return; // another run was selected meanwhile
  state.runData = run;
  state.table = table;
  state.loaded[name] = signature(run);
  renderRunHeader(run);
  renderConvergence(run);
  renderFront(run);
  renderTable();
}

function renderRunHeader(run) {
  $("run-title").textContent = `${run.name}`;
  const o = run.objective;
  const what = o.algorithm === "nsga2" ? `NSGA-II on ${o.pareto.join(", ")}` : `GA on ${o.label} (${o.units})`;
  const best = run.best ? `best ${o.label} ${fmt(run.best.score)} (design ${run.best.design})` : "no feasible design yet";
  const parts = [
    `${run.status}`,
    `generation ${Math.max(run.gen, 0)} of ${run.n_gen}`,
    `P = ${run.pop_size}, seed ${run.seed}`,
    what,
    `${run.n_designs} designs (${run.n_feasible} feasible, ${run.front.n_front} on the front)`,
    best,
  ];
  $("run-summary").textContent = parts.join(" · ");
  $("run-summary").title = run.command || "";
}

function renderConvergence(run) {
  const h = run.history;
  const trace = {
    x: h.evals, y: h.best, customdata: h.gen, type: "scatter", mode: "lines+markers",
    line: { shape: "hv" }, name: run.name,
    hovertemplate: "gen %{customdata}<br>%{x} evaluations<br>best %{y:.4g}<extra></extra>",
  };
  const layout = {
    title: { text: "Convergence", font: { size: 14 } },
    margin: { l: 60, r: 15, t: 35, b: 70 },
    xaxis: { title: { text: "evaluations" } },
    yaxis: { title: { text: `best ${run.objective.label}` }, type: "log" },
  };
  Plotly.react($("convergence"), [trace], layout, PLOT_CONFIG);
}

// Which front axes go where: a maximised axis (accuracy) on y, the first other on x, a third as colour.
function placeAxes(axes) {
  const idx = axes.map((_, i) => i);
  let y = idx.find((i) => axes[i].sense === "max");
  if (y === undefined) y = idx.length > 1 ? 1 : 0;
  const rest = idx.filter((i) => i !== y);
  return { x: rest[0] !== undefined ? rest[0] : y, y, c: rest.length > 1 ? rest[1] : null };
}

function axisTitle(a) {
  return a.unit ? `${a.label} (${a.unit})` : a.label;
}

function frontTraces(front, axes, place, name, opts = {}) {
  const pts = front.design.map((d, i) => ({ d, v: front.values[i], on: front.on_front ? front.on_front[i] : true }));
  const on = pts.filter((p) => p.on).sort((p, q) => p.v[place.x] - q.v[place.x]);
  const off = pts.filter((p) => !p.on);
  const hover = `design %{customdata}<br>${axes[place.x].label} %{x:.4g}<br>${axes[place.y].label} %{y:.4g}<extra>${name}</extra>`;
  const traces = [];
  if (off.length) {
    const t = {
      x: off.map((p) => p.v[place.x]), y: off.map((p) => p.v[place.y]), customdata: off.map((p) => p.d),
      type: "scatter", mode: "markers", name: opts.cloudName || "designs", hovertemplate: hover,
      marker: { size: 5, color: "#b9bfca" },
    };
    if (place.c !== null) {
      t.marker = { size: 5, color: off.map((p) => p.v[place.c]), colorscale: "Viridis", opacity: 0.55,
        colorbar: { title: { text: axisTitle(axes[place.c]) }, thickness: 10 } };
    }
    traces.push(t);
  }
  traces.push({
    x: on.map((p) => p.v[place.x]), y: on.map((p) => p.v[place.y]), customdata: on.map((p) => p.d),
    type: "scatter", mode: place.c === null ? "lines+markers" : "markers", name: opts.frontName || "Pareto front",
    hovertemplate: hover, line: { shape: "hv", color: opts.color || "#2f62d8" },
    marker: { size: 8, color: opts.color || "#2f62d8", line: { color: "#000", width: place.c === null ? 0 : 1 } },
  });
  return traces;
}

function renderFront(run) {
  const f = run.front;
  const axes = f.axes;
  const place = placeAxes(axes);
  const traces = frontTraces(f, axes, place, run.name);
  const byDesign = new Map(f.design.map((d, i) => [d, f.values[i]]));
  const top = run.top.filter((d) => byDesign.has(d));
  traces.push({
    x: top.map((d) => byDesign.get(d)[place.x]), y: top.map((d) => byDesign.get(d)[place.y]), customdata: top,
    type: "scatter", mode: "markers", name: "top 5 (score)",
    marker: { symbol: "star", size: 13, color: "#d62728" },
    hovertemplate: "design %{customdata} (top 5)<extra></extra>",
  });
  const sel = state.design !== null && byDesign.has(state.design) ? [state.design] : [];
  traces.push({
    x: sel.map((d) => byDesign.get(d)[place.x]), y: sel.map((d) => byDesign.get(d)[place.y]), customdata: sel,
    type: "scatter", mode: "markers", name: "selected",
    marker: { symbol: "circle-open", size: 18, color: "#ff7f0e", line: { width: 3 } },
    hoverinfo: "skip",
  });
  const layout = {
    title: { text: `Pareto front (${axes.map((a) => a.label).join(" vs ")})`, font: { size: 14 } },
    margin: { l: 60, r: 15, t: 35, b: 70 },
    xaxis: { title: { text: axisTitle(axes[place.x]) }, type: axes[place.x].log ? "log" : "linear" },
    yaxis: { title: { text: axisTitle(axes[place.y]) }, type: axes[place.y].log ? "log" : "linear" },
    legend: { orientation: "h", y: -0.28 },
    showlegend: true,
  };
  const div = $("front");
  Plotly.react(div, traces, layout, PLOT_CONFIG);
  if (!div.dataset.clicks) {
    div.dataset.clicks = "1";
    div.on("plotly_click", (ev) => {
      const p = ev.points && ev.points[0];
      if (p && p.customdata !== undefined) selectDesign(Number(p.customdata));
    });
  }
}

// --- the design table -----------------------------------------------------------------------
function parseFilter(text) {
  const t = text.trim();
  if (!t) return null;
  const range = t.match(/^(-?[\d.eE+-]+)\s*\.\.\s*(-?[\d.eE+-]+)$/);
  if (range) {
    const lo = Number(range[1]), hi = Number(range[2]);
    return (v) => typeof v === "number" && v >= lo && v <= hi;
  }
  const op = t.match(/^(>=|<=|>|<|=|==)\s*(-?[\d.eE+-]+)$/);
  if (op) {
    const x = Number(op[2]);
    const f = { ">=": (v) => v >= x, "<=": (v) => v <= x, ">": (v) => v > x, "<": (v) => v < x, "=": (v) => v === x, "==": (v) => v === x }[op[1]];
    return (v) => typeof v === "number" && f(v);
  }
  const low = t.toLowerCase();
  return (v) => fmt(v).toLowerCase().includes(low) || (typeof v === "boolean" && (v ? "yes true" : "no false").includes(low));
}

function filteredRows() {
  const { columns, rows } = state.table;
  const index = Object.fromEntries(columns.map((c, i) => [c.key, i]));
  const tests = [];
  for (const [key, text] of Object.entries(state.filters)) {
    const f = parseFilter(text);
    if (f && key in index) tests.push([index[key], f]);
  }
  if ($("only-feasible").checked) tests.push([index.feasible, (v) => v === true]);
  if ($("only-front").checked) tests.push([index.front, (v) => v === true]);
  const out = rows.filter((r) => tests.every(([i, f]) => f(r[i])));
  const sortIdx = index[state.sort.key];
  const dir = state.sort.dir;
  out.sort((a, b) => {
    const x = a[sortIdx], y = b[sortIdx];
    if (x === y) return a[0] - b[0];
    if (x === null) return 1; // nulls (inf scores of infeasible designs) last in both directions
    if (y === null) return -1;
    return (x < y ? -1 : 1) * dir;
  });
  return out;
}

function renderTableHead() {
  const { columns } = state.table;
  const thead = $("designs").querySelector("thead");
  thead.replaceChildren();
  const names = el("tr");
  const filters = el("tr", null, "filters");
  for (const c of columns) {
    const arrow = state.sort.key === c.key ? (state.sort.dir > 0 ? " ▲" : " ▼") : "";
    const th = el("th", c.label + arrow);
    th.dataset.key = c.key;
    th.title = [c.unit, c.help].filter(Boolean).join(": ");
    th.addEventListener("click", () => {
      state.sort = { key: c.key, dir: state.sort.key === c.key ? -state.sort.dir : 1 };
      state.page = 0;
      renderTable();
    });
    names.append(th);
    const fth = el("th");
    const input = el("input");
    input.dataset.key = c.key;
    input.value = state.filters[c.key] || "";
    input.placeholder = c.unit || "filter";
    input.addEventListener("input", () => {
      state.filters[c.key] = input.value;
      state.page = 0;
      renderTableBody();
    });
    fth.append(input);
    filters.append(fth);
  }
  thead.append(names, filters);
}

function renderTable() {
  renderTableHead();
  renderTableBody();
}

function renderTableBody() {
  const { columns } = state.table;
  const rows = filteredRows();
  const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
  state.page = Math.min(state.page, pages - 1);
  const start = state.page * PAGE_SIZE;
  const tbody = $("designs").querySelector("tbody");
  tbody.replaceChildren();
  for (const r of rows.slice(start, start + PAGE_SIZE)) {
    const tr = el("tr");
    tr.dataset.design = r[0];
    if (r[0] === state.design) tr.classList.add("selected");
    columns.forEach((c, i) => tr.append(el("td", c.key === "top" ? (r[i] ? `#${r[i]}` : "") : fmt(r[i]))));
    tr.addEventListener("click", () => selectDesign(r[0]));
    tbody.append(tr);
  }
  $("page-info").textContent = rows.length
    ? `rows ${start + 1}–${Math.min(start + PAGE_SIZE, rows.length)} of ${rows.length} (page ${state.page + 1}/${pages})`
    : "no design matches the filters";
  $("table-count").textContent = `(${state.table.rows.length} archived${state.table.genes_note ? "; " + state.table.genes_note : ""})`;
  $("prev").disabled = state.page === 0;
  $("next").disabled = state.page >= pages - 1;
}

// --- one design -----------------------------------------------------------------------------
async function selectDesign(idx) {
  state.design = idx;
  for (const tr of $("designs").querySelectorAll("tbody tr")) tr.classList.toggle("selected", Number(tr.dataset.design) === idx);
  if (state.runData) renderFront(state.runData);
  writeHash();
  $("design-view").hidden = false;
  $("design-title").textContent = `Design ${idx} of ${state.run}`;
  $("design-summary").textContent = "evaluating…";
  try {
    const d = await api(`/api/design?run=${encodeURIComponent(state.run)}&idx=${idx}`);
    if (d.design !== state.design || d.run !== state.run) return;
    $("design-error").hidden = true;
    $("design-body").hidden = false;
    renderDesign(d);
  } catch (err) {
    $("design-summary").textContent = "";
    $("design-error").textContent = err.message;
    $("design-error").hidden = false;
    $("design-body").hidden = true;
  }
}

function renderDesign(d) {
  const m = d.evaluated;
  const c = d.constraints;
  const ratio = (v) => (v === null ? "n/a" : fmt(v, 3));
  $("design-title").textContent = `Design ${d.design} of ${d.run} (generation ${d.gen})`;
  $("design-summary").textContent = [
    d.score === null ? `score – (infeasible: no score)` : `score ${fmt(d.score)} ${d.objective.units}`,
    `accuracy ${fmt(m.accuracy)} %`,
    `energy ${fmt(m.energy_mj)} mJ`,
    `delay ${fmt(m.delay_us)} us`,
    `area ${fmt(m.area_mm2)} mm^2`,
    `EDAP ${fmt(m.edap)} mJ*ms*mm^2`,
    `${fmt(m.tops_per_w)} TOPS/W`,
    d.feasible ? "feasible" : `infeasible${d.reason ? ": " + d.reason : ""}`,
    `fit ${ratio(c.g_fit)}, area ${ratio(c.g_area)}, cycle ${ratio(c.g_cycle)} (<= 1 ok)`,
    `re-evaluated: max relative difference to the stored metrics ${fmt(d.max_rel_diff, 2)}`,
  ].join(" · ");

  const chip = $("chip-params").querySelector("tbody");
  chip.replaceChildren();
  for (const p of d.chip) {
    const tr = el("tr");
    tr.dataset.param = p.name;
    tr.append(el("td", p.section, "text"));
    const name = el("td", null, "text");
    name.append(p.searched ? el("b", p.name, "searched") : document.createTextNode(p.name));
    tr.append(name);
    tr.append(el("td", p.value === null ? "auto" : fmt(p.value, 6)));
    chip.append(tr);
  }

  const net = d.network;
  $("network-summary").textContent = `${net.family}: ${net.n_layers} layers, ${si(net.macs, "MAC")}, ${si(net.weights, "weights")}`;
  const genes = (sub) => {
    const all = d.genes[sub] || [];
    const act = all.filter((g) => g.active);
    const text = act.map((g) => `${g.name}=${fmt(g.value)}`).join("  ");
    const off = all.length - act.length;
    return text + (off ? `  (${off} genes of unused block slots not shown)` : "");
  };
  $("model-genes").textContent = genes("model");
  $("quant-genes").textContent = genes("quantization");

  const layers = net.layers;
  const x = layers.map((_, i) => i);
  const names = layers.map((l) => `${l.name} (${l.op})`);
  const energyTraces = d.components
    .filter((k) => layers.some((l) => l.energy[k] > 0))
    .map((k) => ({ x, y: layers.map((l) => l.energy[k]), name: k, type: "bar", text: names, textposition: "none", hovertemplate: `%{text}<br>${k}: %{y:.3s}J<extra></extra>` }));
  const base = { margin: { l: 60, r: 15, t: 35, b: 40 } };
  Plotly.react($("breakdown-layer-energy"), energyTraces, {
    ...base, barmode: "stack", title: { text: "Energy per layer and component", font: { size: 14 } },
    xaxis: { title: { text: "layer" } }, yaxis: { title: { text: "energy (J)" }, tickformat: ".2s" },
  }, PLOT_CONFIG);
  Plotly.react($("breakdown-layer-latency"), [{
    x, y: layers.map((l) => l.latency_s), type: "bar", text: names, textposition: "none", name: "busy time",
    marker: { color: "#5b8bd9" }, hovertemplate: "%{text}<br>%{y:.3s}s<extra></extra>",
  }], {
    ...base, title: { text: "Busy time per layer", font: { size: 14 } },
    xaxis: { title: { text: "layer" } }, yaxis: { title: { text: "latency (s)" }, tickformat: ".2s" },
  }, PLOT_CONFIG);
  const avail = net.xbars_available;
  Plotly.react($("breakdown-layer-xbars"), [{
    x, y: layers.map((l) => l.xbars || 0), type: "bar", text: names, textposition: "none", name: "crossbars",
    customdata: layers.map((l) => (100 * (l.xbars || 0)) / Math.max(avail, 1)),
    marker: { color: "#8a6fcf" }, hovertemplate: "%{text}<br>%{y} crossbars (%{customdata:.3g} % of the chip)<extra></extra>",
  }], {
    ...base, title: { text: `Crossbars per layer (of ${avail} on the chip: the layers' share of the array area)`, font: { size: 14 } },
    xaxis: { title: { text: "layer" } }, yaxis: { title: { text: "crossbars" } },
  }, PLOT_CONFIG);
  const ec = Object.entries(d.energy_by_component_j).filter(([, v]) => v > 0);
  Plotly.react($("breakdown-component-energy"), [{
    x: ec.map(([k]) => k), y: ec.map(([, v]) => v), type: "bar", marker: { color: "#e3873b" },
    hovertemplate: "%{x}: %{y:.3s}J<extra></extra>",
  }], { ...base, title: { text: "Energy per component", font: { size: 14 } }, yaxis: { title: { text: "energy (J)" }, tickformat: ".2s" } }, PLOT_CONFIG);
  const ac = Object.entries(d.area_by_component_mm2).filter(([, v]) => v > 0);
  Plotly.react($("breakdown-component-area"), [{
    x: ac.map(([k]) => k), y: ac.map(([, v]) => v), type: "bar", marker: { color: "#4aa56a" },
    hovertemplate: "%{x}: %{y:.4g} mm^2<extra></extra>",
  }], { ...base, title: { text: "Area per component", font: { size: 14 } }, yaxis: { title: { text: "area (mm^2)" } } }, PLOT_CONFIG);

  const thead = $("layers").querySelector("thead");
  const head = el("tr");
  head.append(el("th", "#"), el("th", "layer", "text"), el("th", "op", "text"));
  for (const col of net.columns) head.append(el("th", col.label));
  head.append(el("th", "crossbars"), el("th", "busy time"), el("th", "energy"));
  thead.replaceChildren(head);
  const tbody = $("layers").querySelector("tbody");
  tbody.replaceChildren();
  layers.forEach((l, i) => {
    const tr = el("tr");
    tr.append(el("td", i), el("td", l.name, "text"), el("td", l.op, "text"));
    for (const col of net.columns) tr.append(el("td", fmt(l[col.key])));
    tr.append(el("td", fmt(l.xbars)), el("td", si(l.latency_s, "s")), el("td", si(l.energy_j, "J")));
    tbody.append(tr);
  });
}

// --- two runs side by side ------------------------------------------------------------------
async function openCompare(a, b) {
  state.compare = [a, b];
  show("compare");
  for (const tr of $("runs").querySelectorAll("tbody tr")) tr.classList.remove("selected");
  $("cmp-a").value = a;
  $("cmp-b").value = b;
  writeHash();
  await loadCompare();
}

async function loadCompare() {
  const [a, b] = state.compare;
  const d = await api(`/api/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`);
  if (state.view !== "compare" || state.compare[0] !== a || state.compare[1] !== b) return;
  for (const r of d.runs) state.loaded[`compare:${r.name}`] = signature(r);
  $("compare-title").textContent = `${a} vs ${b}`;
  const rows = [
    ["status", (r) => r.status],
    ["algorithm", (r) => r.objective.algorithm],
    ["objective", (r) => (r.objective.algorithm === "nsga2" ? r.objective.pareto.join(", ") : r.objective.label)],
    ["generations", (r) => `${Math.max(r.gen, 0)}/${r.n_gen}`],
    ["population", (r) => r.pop_size],
    ["designs", (r) => r.n_designs],
    ["feasible", (r) => r.n_feasible],
    ["evaluations", (r) => r.n_evals],
    ["best score (own objective)", (r) => (r.best ? `${fmt(r.best.score)} ${r.objective.label}` : "–")],
    ["best design", (r) => (r.best ? r.best.design : "–")],
    ["best: accuracy (%)", (r) => (r.best ? fmt(r.best.metrics.accuracy) : "–")],
    ["best: energy (mJ)", (r) => (r.best ? fmt(r.best.metrics.energy_mj) : "–")],
    ["best: delay (us)", (r) => (r.best ? fmt(r.best.metrics.delay_us) : "–")],
    ["best: area (mm^2)", (r) => (r.best ? fmt(r.best.metrics.area_mm2) : "–")],
    ["best: EDAP (mJ*ms*mm^2)", (r) => (r.best ? fmt(r.best.metrics.edap) : "–")],
    [`front size (in ${a}'s objectives)`, (r, i) => d.fronts[i].design.length],
  ];
  const thead = $("compare-table").querySelector("thead");
  const head = el("tr");
  head.append(el("th", "", "text"), ...d.runs.map((r) => el("th", r.name)));
  thead.replaceChildren(head);
  const tbody = $("compare-table").querySelector("tbody");
  tbody.replaceChildren();
  for (const [label, f] of rows) {
    const tr = el("tr");
    tr.append(el("td", label, "text"), ...d.runs.map((r, i) => el("td", f(r, i))));
    tbody.append(tr);
  }
  const colors = ["#2f62d8", "#d62728"];
  Plotly.react($("compare-convergence"), d.histories.map((h, i) => ({
    x: h.evals, y: h.best, name: `${h.run} (${h.label})`, type: "scatter", mode: "lines+markers",
    line: { shape: "hv", color: colors[i] },
  })), {
    title: { text: "Convergence (each run's own score)", font: { size: 14 } },
    margin: { l: 60, r: 15, t: 35, b: 70 }, xaxis: { title: { text: "evaluations" } },
    yaxis: { title: { text: "best score" }, type: "log" }, legend: { orientation: "h", y: -0.28 },
  }, PLOT_CONFIG);
  const place = placeAxes(d.axes);
  const traces = d.fronts.flatMap((f, i) => frontTraces(f, d.axes, place, f.run, { frontName: `${f.run} front`, color: colors[i] }));
  Plotly.react($("compare-front"), traces, {
    title: { text: `Pareto fronts in ${a}'s objectives`, font: { size: 14 } },
    margin: { l: 60, r: 15, t: 35, b: 70 },
    xaxis: { title: { text: axisTitle(d.axes[place.x]) }, type: d.axes[place.x].log ? "log" : "linear" },
    yaxis: { title: { text: axisTitle(d.axes[place.y]) }, type: d.axes[place.y].log ? "log" : "linear" },
    legend: { orientation: "h", y: -0.28 },
  }, PLOT_CONFIG);
}

// --- live refresh ---------------------------------------------------------------------------
async function poll() {
  if (!$("live").checked || state.busy) return;
  state.busy = true;
  try {
    const runs = await refreshRuns();
    const now = Object.fromEntries(runs.map((r) => [r.name, signature(r)]));
    if (state.view === "run" && state.run && now[state.run] && now[state.run] !== state.loaded[state.run]) {
      await loadRun();
    } else if (state.view === "compare" && state.compare) {
      const stale = state.compare.some((n) => now[n] && now[n] !== state.loaded[`compare:${n}`]);
      if (stale) await loadCompare();
    }
    message("");
  } catch (err) {
    message(`refresh failed: ${err.message}`);
  } finally {
    state.busy = false;
  }
}

async function main() {
  $("prev").addEventListener("click", () => { state.page -= 1; renderTableBody(); });
  $("next").addEventListener("click", () => { state.page += 1; renderTableBody(); });
  $("only-feasible").addEventListener("change", () => { state.page = 0; renderTableBody(); });
  $("only-front").addEventListener("change", () => { state.page = 0; renderTableBody(); });
  $("cmp-b").addEventListener("change", () => { $("cmp-b").dataset.touched = "1"; });
  $("cmp-go").addEventListener("click", () => openCompare($("cmp-a").value, $("cmp-b").value));
  window.addEventListener("hashchange", () => route().catch((e) => message(e.message)));
  try {
    await refreshRuns();
    await route();
  } catch (err) {
    message(err.message);
  }
  document.body.dataset.ready = "1";
  setInterval(poll, POLL_MS);
}

main();
