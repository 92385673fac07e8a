// StyleCast studio: plain DOM code over the studio's JSON API (no framework, no CDN).
"use strict";

const $ = (id) => document.getElementById(id);
let state = null;
let selected = null;   // the design record on the bench
let marked = null;     // the design marked as the other end of a blend

function showMessage(text, kind) {
  const box = $("message");
  box.textContent = text;
  box.className = kind || "";
  box.hidden = !text;
}

async function api(path, body, method) {
  const options = body === undefined ? {method: method || "GET"}
    : {method: method || "POST", headers: {"Content-Type": "application/json"},
       body: JSON.stringify(body)};
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    let detail = data.detail;
    if (Array.isArray(detail)) {   // a request the API's validation refused
      detail = detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
    }
    throw new Error(detail || `${response.status} ${response.statusText}`);
  }
  return data;
}

async function run(action) {
  showMessage("");
  document.body.style.cursor = "progress";
  try {
    await action();
  } catch (err) {
    showMessage(err.message);
  } finally {
    document.body.style.cursor = "";
  }
}

function figure(src, caption, title, onClick, extraClass) {
  const fig = document.createElement("figure");
  if (extraClass) fig.className = extraClass;
  const img = document.createElement("img");
  img.src = src;
  img.alt = title;
  img.title = title;
  fig.append(img);
  const cap = document.createElement("figcaption");
  cap.textContent = caption;
  fig.append(cap);
  fig.addEventListener("click", onClick);
  return fig;
}

function designFigure(design) {
  const checks = design.checks || {};
  const passed = checks.passed !== false && !design.flagged;
  const title = `${design.design_id}${passed ? "" : " · flagged: " + (checks.reason || design.reason || "")}`;
  const fig = figure(`/designs/${design.design_id}.png`, design.design_id, title,
                     () => run(() => select(design.design_id)), passed ? "" : "flagged");
  fig.dataset.design = design.design_id;
  return fig;
}

function fillSelect(select, values) {
  select.replaceChildren(...values.map((v) => new Option(v, v)));
}

function attributeOf(role) {
  const names = Object.keys(state.vocabulary);
  const wanted = role === "colour" ? ["colour", "color", "baseColour", "major_color"]
    : ["category", "articleType", "clothing_category", "type"];
  return names.find((n) => wanted.includes(n)) || null;
}

async function loadState(week) {
  state = await api("/api/state" + (week ? `?week=${encodeURIComponent(week)}` : ""));
  $("model").textContent = `generator ${state.model}`;
  fillSelect($("week"), state.weeks.length ? state.weeks : ["(no report)"]);
  if (state.week) $("week").value = state.week;
  $("styles-note").textContent = state.note || "";
  const list = $("style-list");
  list.replaceChildren(...state.styles.map((style, i) => {
    const li = document.createElement("li");
    const button = document.createElement("button");
    const chance = style.probability == null ? "" : ` · ${Math.round(style.probability * 100)}% sure`;
    button.textContent = `${style.name} (${style.label || "no call"}${chance})`;
    button.dataset.index = i;
    button.addEventListener("click", () => pickStyle(i));
    li.append(button);
    return li;
  }));
  const conditions = $("draw-conditions");
  conditions.replaceChildren(...Object.entries(state.vocabulary).map(([name, values]) => {
    const label = document.createElement("label");
    label.textContent = `${name} `;
    const select = document.createElement("select");
    select.name = name;
    fillSelect(select, values);   // 'unknown' first: the attribute left open
    label.append(select);
    return label;
  }));
  const colour = attributeOf("colour"), category = attributeOf("category");
  if (colour) fillSelect($("colour"), state.vocabulary[colour].slice(1));
  if (category) fillSelect($("category"), state.vocabulary[category].slice(1));
  $("recolour").disabled = !colour;
  $("recut").disabled = !category;
  renderBoard(await api("/api/board"));
}

function pickStyle(index) {
  const style = state.styles[index];
  for (const b of document.querySelectorAll("#style-list button")) {
    b.classList.toggle("active", Number(b.dataset.index) === index);
  }
  $("style-name").textContent = style.name;
  $("style-why").textContent = style.why || "";
  $("concepts").replaceChildren(...style.concepts.map(designFigure));
  if (!style.concepts.length) {
    $("concepts").textContent = "No concepts were drawn for it this week; draw some on the left.";
  }
  // Items redrawn ahead of time (at the studio's start) open at once; the others take an
  // inversion, and the page says how long.
  const redrawn = new Set(style.redrawn || []);
  $("items").replaceChildren(...style.representatives.map((item) =>
    figure(`/items/${encodeURIComponent(item)}.png`, redrawn.has(item) ? `ready · ${item}` : item,
           `item ${item}: redraw it as a design`,
           () => run(async () => {
             if (!redrawn.has(item)) {
               showMessage(`Redrawing ${item} as a design: about ${state.limits.invert_seconds} s on this machine.`, "info");
             }
             showResults(await api("/api/from-item", {item}));
             showMessage("");
             redrawn.add(item);
             style.redrawn = [...redrawn];
           }), redrawn.has(item) ? "ready" : undefined)));
  if (style.condition) {
    for (const part of style.condition.split(",")) {
      const [name, value] = part.split("=");
      const select = document.querySelector(`#draw-conditions select[name="${name}"]`);
      if (select) select.value = value;
    }
  }
}

function showResults(found) {
  $("results").replaceChildren(...found.designs.map(designFigure));
  if (found.designs.length) return select(found.designs[0].design_id);
}

function describeChecks(checks) {
  const dl = document.createElement("dl");
  const add = (term, text, cls) => {
    const dt = document.createElement("dt"); dt.textContent = term;
    const dd = document.createElement("dd"); dd.textContent = text;
    if (cls) dd.className = cls;
    dl.append(dt, dd);
  };
  add("check", checks.passed === false ? `flagged: ${checks.reason}` : "passes",
      checks.passed === false ? "fail" : "pass");
  if (checks.seen) {
    add("classifier sees", Object.entries(checks.seen)
      .map(([n, s]) => `${n}=${s.value} (${Math.round(s.p * 100)}%)`).join(", "));
  }
  if (checks.realism != null) add("realism", `${checks.realism} (real items up to ${checks.realism_limit ?? "?"})`);
  return dl;
}

// "from-item: steps 120; seed 0; loss 0.0991": the operation and its parameters, as read.
function madeBy(record) {
  const shown = Object.entries(record.parameters || {})
    .filter(([, v]) => v != null && !(Array.isArray(v) && !v.length))
    .map(([k, v]) => `${k.replaceAll("_", " ")} ${Array.isArray(v) ? v.join(", ")
      : typeof v === "object" ? JSON.stringify(v) : v}`);
  return shown.length ? `${record.operation}: ${shown.join("; ")}` : record.operation;
}

async function select(designId) {
  selected = await api(`/api/designs/${encodeURIComponent(designId)}`);
  history.replaceState(null, "", `?design=${selected.design_id}`);
  for (const fig of document.querySelectorAll("figure[data-design]")) {
    fig.classList.toggle("selected", fig.dataset.design === selected.design_id);
  }
  const box = $("selected");
  box.className = "";
  const img = document.createElement("img");
  img.className = "big";
  img.src = selected.image;
  img.alt = `design ${selected.design_id}`;
  const meta = document.createElement("dl");
  const condition = Object.entries(selected.condition).filter(([, v]) => v !== "unknown")
    .map(([n, v]) => `${n}=${v}`).join(", ") || "any";
  for (const [term, text] of [["id", selected.design_id], ["condition", condition],
                              ["made by", madeBy(selected)],
                              ["from", selected.parents.join(", ") || "noise"],
                              ["model", selected.model]]) {
    const dt = document.createElement("dt"); dt.textContent = term;
    const dd = document.createElement("dd"); dd.textContent = text;
    meta.append(dt, dd);
  }
  const near = document.createElement("div");
  near.className = "nearest";
  for (const n of (selected.checks.nearest || [])) {
    near.append(figure(`/items/${encodeURIComponent(n.item_id)}.png`,
                       n.distance == null ? n.item_id : `d ${n.distance}`,
                       `nearest real item ${n.item_id}`, () => {}));
  }
  const nearTitle = document.createElement("h3");
  nearTitle.textContent = "Nearest real items";
  box.replaceChildren(img, meta, describeChecks(selected.checks), nearTitle, near);
  $("controls").hidden = false;
  $("blend").disabled = !marked || marked === selected.design_id;
}

function renderBoard(found) {
  const board = $("board");
  board.replaceChildren(...found.board.map(designFigure));
  if (!found.board.length) board.textContent = "Nothing saved yet.";
}

function truncation() {
  const value = Number($("truncation").value);
  return value >= 3 ? null : value;
}

$("strength").addEventListener("input", () => {
  $("strength-value").textContent = Number($("strength").value).toFixed(2);
});
$("truncation").addEventListener("input", () => {
  $("truncation-value").textContent = truncation() === null ? "off" : truncation().toFixed(1);
});
$("week").addEventListener("change", () => run(() => loadState($("week").value)));
$("draw-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const condition = [...document.querySelectorAll("#draw-conditions select")]
    .filter((s) => s.value !== "unknown").map((s) => `${s.name}=${s.value}`).join(",");
  run(async () => showResults(await api("/api/draw", {condition, n: 6,
                                                      seed: Math.floor(Math.random() * 1e6)})));
});
$("vary").addEventListener("click", () => run(async () => showResults(await api("/api/vary", {
  design: selected.design_id, n: 6, strength: Number($("strength").value),
  seed: Math.floor(Math.random() * 1e6), truncation: truncation()}))));
$("recolour").addEventListener("click", () => run(async () => showResults(await api(
  "/api/recolour", {design: selected.design_id, values: [$("colour").value]}))));
$("recut").addEventListener("click", () => run(async () => showResults(await api(
  "/api/recut", {design: selected.design_id, values: [$("category").value]}))));
$("mark").addEventListener("click", () => {
  marked = selected.design_id;
  $("blend-with").textContent = `Blend ${marked} with the selected design:`;
  $("blend").disabled = true;
});
$("blend").addEventListener("click", () => run(async () => showResults(await api("/api/blend", {
  first: marked, second: selected.design_id, steps: 6}))));
$("save").addEventListener("click", () => run(async () => {
  await api("/api/board", {design: selected.design_id});
  renderBoard(await api("/api/board"));
  showMessage(`Saved ${selected.design_id} to the board.`, "info");
}));

run(async () => {
  await loadState(null);
  const asked = new URLSearchParams(location.search).get("design");
  if (asked) await select(asked);
  else if (state.styles.length) pickStyle(0);
});
