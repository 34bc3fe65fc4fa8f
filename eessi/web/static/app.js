// eessi-sim dashboard: plain JavaScript, no build step. Every figure comes from /ui/data/
// (the admin API of each institution of the network, passed through by the serving node).
"use strict";

const NS = "http://www.w3.org/2000/svg";
const app = {
  net: null,                 // GET /ui/data/network
  arrows: new Map(),         // key -> arrow, in arrival order (the live stream)
  demo: null,                // the demo's state, from the stream
  listeners: new Set(),      // redraws of the page showing, called on stream events
};

// ---------------------------------------------------------------- small helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function say(text, bad) {
  const el = document.getElementById("status");
  el.textContent = text || "";
  el.classList.toggle("bad", !!bad);
}

function headers(extra) {
  const out = Object.assign({}, extra || {});
  const token = sessionStorage.getItem("eessi-token");
  if (token) out.Authorization = "Bearer " + token;
  return out;
}

class ApiFailure extends Error {
  constructor(status, error) {
    super(error && error.message ? error.message : "HTTP " + status);
    this.status = status;
    this.error = error || {};
  }
  describe() {
    const e = this.error;
    return [e.message || this.message, e.where ? "(at " + e.where + ")" : "", e.hint ? "— " + e.hint : ""]
      .filter(Boolean).join(" ");
  }
}

async function api(path, options) {
  const opts = Object.assign({}, options || {});
  opts.headers = headers(opts.body ? { "Content-Type": "application/json" } : {});
  const resp = await fetch("/ui/data/" + path, opts);
  const type = resp.headers.get("Content-Type") || "";
  const body = type.includes("json") ? await resp.json() : await resp.text();
  if (resp.status === 401) document.getElementById("token-form").hidden = false;
  if (!resp.ok) throw new ApiFailure(resp.status, body && body.error);
  return body;
}

function node(irId, path, options) {
  return api("node/" + encodeURIComponent(irId) + "/" + path, options);
}

function institution(irId) {
  return (app.net ? app.net.institutions : []).find((i) => i.id === irId);
}

function kindOf(irId) {
  const inst = institution(irId);
  if (!inst) return "other";
  return inst.kind === "cns" ? "cns" : "mock";
}

function pill(irId) {
  const kind = kindOf(irId);
  return h("span", { class: "pill " + kind, title: kind === "cns" ? "the CNS" : "a mock fund" },
    kind === "cns" ? "CNS" : kind === "mock" ? "mock" : "elsewhere");
}

function statusText(value) {
  return h("span", { class: "status-" + value }, value || "");
}

function rulesIn(text) {
  // "[R2, R17]" or "R17: ..." -> the rules as badges, the rest as text
  const parts = String(text).split(/\b(R1[0-8]|R[1-9]|S[1-4])\b/);
  return parts.map((p, i) => (i % 2 ? h("span", { class: "rule" }, p) : p));
}

function when(iso) {
  if (!iso) return "";
  return iso.replace("T", " ").replace(/(\.\d+)?(\+00:00|Z)$/, "");
}

function caseLink(irId, caseId) {
  return h("a", { href: "#/case/" + encodeURIComponent(irId) + "/" + encodeURIComponent(caseId) }, caseId);
}

function messageHref(irId, direction, messageId) {
  return "#/message/" + [irId, direction, messageId].map(encodeURIComponent).join("/");
}

function selectOf(id, label, values, current, onchange) {
  return h("div", {},
    h("label", { for: id }, label),
    h("select", { id, onchange },
      h("option", { value: "" }, "(any)"),
      values.map((v) => h("option", { value: v, selected: v === current }, v))));
}

// ---------------------------------------------------------------- the live stream

async function listen() {
  // Server-sent events read with fetch (EventSource cannot send the admin token).
  for (;;) {
    app.stream = new AbortController();
    try {
      const resp = await fetch("/ui/data/stream", { headers: headers(), signal: app.stream.signal });
      if (resp.status === 401) {
        document.getElementById("token-form").hidden = false;
        return;
      }
      const reader = resp.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          handleEvent(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
        }
      }
    } catch (err) {
      if (app.stream.signal.aborted) continue;  // asked to start again (a reset): at once
      // the node stopped or restarts: try again shortly
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}

function handleEvent(chunk) {
  let event = "message";
  let data = "";
  for (const line of chunk.split("\n")) {
    if (line.startsWith("event: ")) event = line.slice(7);
    else if (line.startsWith("data: ")) data += line.slice(6);
  }
  if (!data) return;
  const value = JSON.parse(data);
  if (event === "arrow") {
    value.fresh = !app.arrows.has(value.key);
    app.arrows.set(value.key, value);
  } else if (event === "clear") {
    app.arrows.clear();
  } else if (event === "demo") {
    app.demo = value;
  } else if (event === "network") {
    if (app.net) app.net.institutions = value.institutions;
  }
  for (const fn of app.listeners) fn(event, value);
}

// ---------------------------------------------------------------- the sequence diagram

function sequenceDiagram(arrows, participants) {
  const col = 240, left = 150, top = 70, row = 54;
  const width = left + col * Math.max(participants.length, 1);
  const height = top + row * (arrows.length + 1);
  const x = (id) => left + col * participants.indexOf(id) + col / 2 - 40;
  const svg = s("svg", {
    width, height, viewBox: `0 0 ${width} ${height}`, role: "group",
    "aria-label": "Sequence diagram: one arrow per message, newest at the bottom",
  });
  svg.append(s("defs", {},
    ["ink", "cns", "mock", "bad"].map((k) => s("marker", {
      id: "head-" + k, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 8, markerHeight: 8, orient: "auto-start-reverse",
    }, s("path", { d: "M0,0 L10,5 L0,10 z", fill: { ink: "#14171f", cns: "#0b4f9c", mock: "#8a4b00", bad: "#b3141f" }[k] })))));
  participants.forEach((id) => {
    const kind = kindOf(id);
    const cx = x(id);
    svg.append(s("line", { class: "lifeline", x1: cx, y1: top - 8, x2: cx, y2: height }));
    const inst = institution(id);
    svg.append(s("g", { class: "actor " + kind },
      s("title", {}, (inst ? inst.name : id) + (kind === "cns" ? " (the CNS)" : kind === "mock" ? " (a mock fund)" : "")),
      s("rect", { x: cx - 100, y: 6, width: 200, height: 50, rx: 8 }),
      s("text", { x: cx, y: 28, "text-anchor": "middle" }, id),
      s("text", { x: cx, y: 47, "text-anchor": "middle", class: "kind" }, kind === "cns" ? "CNS" : kind === "mock" ? "MOCK FUND" : "ELSEWHERE")));
  });
  arrows.forEach((a, i) => {
    const y = top + row * (i + 1);
    const x1 = x(a.sender), x2 = x(a.receiver);
    const failed = ["failed", "refused", "rejected", "processing_failed", "expired"].includes(a.status);
    const from = kindOf(a.sender);
    const tone = failed ? "bad" : from === "cns" ? "cns" : from === "mock" ? "mock" : "ink";
    const label = `${a.sed} ${a.status}` + (a.attempts > 1 ? ` (${a.attempts} attempts)` : "");
    const g = s("g", {
      class: `arrow from-${from}` + (failed ? " failed" : "") + (a.fresh ? " fresh" : ""),
      tabindex: 0, role: "link", "data-key": a.key, "data-sed": a.sed, "data-status": a.status,
      "aria-label": `${a.sed} from ${a.sender} to ${a.receiver}, case ${a.case}, ${a.status}. Open the message.`,
      onclick: () => { location.hash = messageHref(a.open.institution, a.open.direction, a.message_id); },
      onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); location.hash = messageHref(a.open.institution, a.open.direction, a.message_id); } },
    },
    s("title", {}, `${a.sed} ${a.version} · case ${a.case} · ${a.message_id}` + (a.error ? ` · ${a.error}` : "")),
    s("rect", { class: "hit", x: 0, y: y - row + 12, width, height: row }),
    s("text", { x: 8, y: y + 4, class: "time" }, when(a.at).slice(5, 16)),
    s("text", { x: (x1 + x2) / 2, y: y - 8, "text-anchor": "middle" }, label),
    s("text", { x: (x1 + x2) / 2, y: y + 15, "text-anchor": "middle", class: "time" }, a.case),
    x1 === x2
      ? s("line", { x1, y1: y, x2: x1 + 60, y2: y, "marker-end": `url(#head-${tone})` })
      : s("line", { x1, y1: y, x2: x2 + (x2 > x1 ? -4 : 4), y2: y, "marker-end": `url(#head-${tone})` }));
    if (failed) g.append(s("text", { class: "cross", x: x2 + (x2 > x1 ? 8 : -24), y: y + 7 }, "✗"));
    svg.append(g);
    a.fresh = false;
  });
  return h("div", { class: "diagram" }, svg);
}

function participantsFor(arrows, preferred) {
  const out = [...(preferred || [])];
  for (const a of arrows) for (const p of [a.sender, a.receiver]) if (!out.includes(p)) out.push(p);
  return out;
}

function legend() {
  return h("div", { class: "legend" },
    h("span", {}, h("span", { class: "pill cns" }, "CNS"), " the CNS (solid)"),
    h("span", {}, h("span", { class: "pill mock" }, "mock"), " a mock fund (dashed)"),
    h("span", {}, h("span", { class: "pill bad" }, "✗"), " refused, rejected or failed (red, dashed)"),
    h("span", { class: "muted" }, "Select an arrow (click, or Tab then Enter) to open its message."));
}

// ---------------------------------------------------------------- pages

const pages = {};
const MAX_ARROWS = 400;

pages.flow = (main) => {
  const holder = h("div", {});
  const count = h("p", { class: "muted" });
  main.append(h("h1", {}, "Live flow"),
    h("p", {}, "The network's messages as they pass, one lifeline per institution."),
    legend(), count, holder);
  const draw = () => {
    const all = [...app.arrows.values()];
    const arrows = all.slice(-MAX_ARROWS);
    const order = app.net.institutions.map((i) => i.id);
    holder.replaceChildren(arrows.length
      ? sequenceDiagram(arrows, participantsFor(arrows, order))
      : h("p", { class: "muted" }, "No message yet: start a request (POST /api/requests) or a demo, and watch."));
    count.textContent = all.length > arrows.length
      ? `${all.length} messages; the last ${arrows.length} are drawn (the Messages page lists them all)`
      : `${all.length} message(s)`;
  };
  draw();
  return (event) => { if (["arrow", "network", "clear"].includes(event)) draw(); };
};

pages.cases = async (main, params) => {
  main.append(h("h1", {}, "Cases"));
  const insts = app.net.institutions;
  const at = params.get("at") || (insts[0] && insts[0].id);
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  main.append(h("div", { class: "filters" },
    selectOf("f-at", "Institution", insts.map((i) => i.id), at, (e) => go("cases", { at: e.target.value }))), body);
  let items;
  try {
    items = (await node(at, "cases?limit=1000")).items;
  } catch (err) {
    body.replaceChildren(h("p", { class: "error-box" }, err.describe ? err.describe() : String(err)));
    return;
  }
  const uniq = (k) => [...new Set(items.map((c) => c[k]).filter(Boolean))].sort();
  const f = { state: params.get("state") || "", buc: params.get("buc") || "", counterparty: params.get("counterparty") || "", person: params.get("person") || "" };
  const rows = h("tbody", {});
  const summary = h("p", { class: "muted", "aria-live": "polite" });
  const apply = () => {
    const person = f.person.toLowerCase();
    const shown = items.filter((c) =>
      (!f.state || c.state === f.state) && (!f.buc || c.buc === f.buc) &&
      (!f.counterparty || c.counterparty === f.counterparty) &&
      (!person || [c.person, c.member].some((v) => v && String(v).toLowerCase().includes(person))));
    rows.replaceChildren(...shown.map((c) => h("tr", {},
      h("td", {}, caseLink(at, c.case_id)), h("td", {}, c.buc), h("td", {}, statusText(c.state)),
      h("td", {}, c.role), h("td", {}, c.counterparty || ""), h("td", {}, c.member || c.person || ""),
      h("td", {}, c.messages), h("td", {}, when(c.updated_at)))));
    summary.textContent = `${shown.length} of ${items.length} case(s)`;
  };
  const set = (k) => (e) => { f[k] = e.target.value; apply(); };
  body.replaceChildren(
    h("div", { class: "filters", role: "search", "aria-label": "Filter the cases" },
      selectOf("f-state", "State", uniq("state"), f.state, set("state")),
      selectOf("f-buc", "BUC", uniq("buc"), f.buc, set("buc")),
      selectOf("f-cp", "Counterparty", uniq("counterparty"), f.counterparty, set("counterparty")),
      h("div", {}, h("label", { for: "f-person" }, "Person"),
        h("input", { id: "f-person", type: "search", value: f.person, placeholder: "member or PIN", oninput: set("person") }))),
    summary,
    h("table", {}, h("caption", { class: "muted" }, `Cases at ${at}`),
      h("thead", {}, h("tr", {}, ["Case", "BUC", "State", "Role", "Counterparty", "Person", "Messages", "Updated"].map((t) => h("th", { scope: "col" }, t)))),
      rows));
  apply();
};

const STATE_POS = {
  "new": [0, 0], "awaiting-reply": [1, 0], "awaiting-confirmation": [2, 0], "completed": [3, 0],
  "rejected": [1, 1], "withdrawn": [2, 1], "closed": [3, 1],
};

function stateDiagram(graph, current, visited, taken) {
  const w = 210, hgt = 140, bw = 170, bh = 48, top = 56;
  const pos = (st) => { const p = STATE_POS[st] || [0, 2]; return [20 + p[0] * w, top + p[1] * hgt]; };
  const used = new Set(graph.edges.flatMap((e) => [e.from, e.to]));
  const width = 4 * w + 20, height = top + hgt + bh + 40;
  const svg = s("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `State diagram of ${graph.buc}; current state ${current}` });
  svg.append(s("defs", {},
    s("marker", { id: "st-head", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" },
      s("path", { d: "M0,0 L10,5 L0,10 z", fill: "#6b7383" })),
    s("marker", { id: "st-head-taken", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 5, markerHeight: 5, orient: "auto" },
      s("path", { d: "M0,0 L10,5 L0,10 z", fill: "#0b4f9c" }))));
  for (const e of graph.edges) {
    const [ax, ay] = pos(e.from), [bx, by] = pos(e.to);
    const x1 = ax + bw / 2, y1 = ay + bh / 2, x2 = bx + bw / 2, y2 = by + bh / 2;
    const mx = (x1 + x2) / 2 + (y2 - y1) * 0.15, my = (y1 + y2) / 2 - (x2 - x1) * 0.15 + (y1 === y2 ? -30 : 0);
    // stop at the box's edge
    const dx = x2 - mx, dy = y2 - my, len = Math.hypot(dx, dy) || 1;
    const t = Math.min((bw / 2) / Math.abs(dx || 1e-9), (bh / 2) / Math.abs(dy || 1e-9), len) / len;
    const ex = x2 - dx * t, ey = y2 - dy * t;
    const went = taken.get(`${e.from}>${e.to}`);
    svg.append(s("path", { class: "edge" + (went ? " taken" : ""), d: `M${x1},${y1} Q${mx},${my} ${ex},${ey}`,
      "marker-end": went ? "url(#st-head-taken)" : "url(#st-head)", "data-edge": `${e.from}>${e.to}` },
      s("title", {}, `${e.from} → ${e.to}: ${e.steps.join(", ")}`)));
    if (went) {
      const lx = 0.25 * x1 + 0.5 * mx + 0.25 * ex, ly = 0.25 * y1 + 0.5 * my + 0.25 * ey;
      svg.append(s("text", { class: "edge-label", x: lx, y: ly - 6, "text-anchor": "middle" }, [...went].join(", ")));
    }
  }
  for (const st of graph.states) {
    const [x, y] = pos(st);
    const cls = st === current ? "current" : visited.has(st) ? "visited" : used.has(st) || st === "new" ? "" : "unused";
    svg.append(s("g", { class: "state " + cls, "data-state": st },
      s("rect", { x, y, width: bw, height: bh, rx: 22 }),
      s("text", { x: x + bw / 2, y: y + bh / 2 + 5, "text-anchor": "middle" }, st + (st === current ? " ◀" : ""))));
  }
  return h("div", { class: "states" }, svg);
}

pages.case = async (main, params, irId, caseId) => {
  main.append(h("h1", {}, "Case ", h("code", {}, caseId), " at ", irId, " ", pill(irId)));
  let c;
  try {
    c = await node(irId, "cases/" + encodeURIComponent(caseId));
  } catch (err) {
    main.append(h("p", { class: "error-box" }, err.describe ? err.describe() : String(err)));
    return;
  }
  main.append(h("dl", { class: "meta card" },
    h("dt", {}, "BUC"), h("dd", {}, c.buc), h("dt", {}, "State"), h("dd", {}, statusText(c.state)),
    h("dt", {}, "Role"), h("dd", {}, c.role === "PO" ? "case owner (PO)" : c.role === "CP" ? "counterparty (CP)" : c.role),
    h("dt", {}, "Counterparty"), h("dd", {}, c.counterparty || ""), h("dt", {}, "Person"), h("dd", {}, c.member || c.person || ""),
    h("dt", {}, "Waiting for"), h("dd", {}, c.waiting_for ? `${c.waiting_for.sed} from ${c.waiting_for.sender} by ${when(c.waiting_for.deadline)}` : "nothing"),
    h("dt", {}, "Opened"), h("dd", {}, when(c.opened_at))));
  // the state diagram, the states the case went through marked
  const visited = new Set(["new"]);
  const taken = new Map();  // "old>new" -> the SEDs that took the case along that edge
  for (const t of c.timeline) {
    if (t.kind !== "case-state-changed" || !t.data) continue;
    visited.add(t.data.old).add(t.data.new);
    const key = `${t.data.old}>${t.data.new}`;
    taken.set(key, (taken.get(key) || new Set()).add(t.data.sed));
  }
  if (c.buc && c.role) {
    try {
      const graph = await api("buc/" + encodeURIComponent(c.buc) + "?role=" + encodeURIComponent(c.role));
      main.append(h("h2", {}, `${c.buc} state diagram (${c.role === "PO" ? "case owner" : "counterparty"})`),
        h("p", { class: "muted" }, "The current state is filled; the way this case went is drawn in blue with its documents; hover an arrow for the steps that take it."),
        stateDiagram(graph, c.state, visited, taken),
        h("h3", {}, `What may happen next (from ${c.state})`),
        h("ul", { id: "next-steps" }, graph.edges.filter((e) => e.from === c.state)
          .map((e) => h("li", {}, h("code", {}, e.steps.join(", ")), ` → ${e.to}`))));
    } catch (err) {
      main.append(h("p", { class: "muted" }, "No state diagram: " + (err.describe ? err.describe() : err)));
    }
  }
  // the decision(s) with their rules
  const decisions = c.timeline.filter((t) => t.type === "event" && JSON.stringify(t.data).match(/"rules?"/));
  main.append(h("h2", {}, "Decision and rules"));
  main.append(decisions.length
    ? h("ul", {}, decisions.map((d) => h("li", {}, h("strong", {}, d.kind), " ", describeRules(d.data))))
    : h("p", { class: "muted" }, "No decision citing a rule in this case's events (the CNS's member decisions are on the Demo page and in GET /api/events)."));
  main.append(h("h2", {}, "Timeline"));
  main.append(h("table", {},
    h("thead", {}, h("tr", {}, ["When", "What", "Detail", "Status"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, c.timeline.map((t) => t.type === "message"
      ? h("tr", {}, h("td", {}, when(t.at)),
        h("td", {}, h("a", { href: messageHref(irId, t.direction, t.message_id) }, `${t.direction === "in" ? "received" : "sent"} ${t.sed_type}`)),
        h("td", {}, `${t.sender} → ${t.receiver}` + (t.attempts > 1 ? ` · ${t.attempts} attempts` : "")), h("td", {}, statusText(t.status)))
      : h("tr", {}, h("td", {}, when(t.at)), h("td", {}, t.kind), h("td", {}, describeRules(t.data)), h("td", {}, ""))))));
};

function describeRules(data) {
  const rules = [];
  const walk = (v, depth) => {
    if (!v || depth > 3) return;
    if (Array.isArray(v)) v.forEach((x) => walk(x, depth + 1));
    else if (typeof v === "object") for (const [k, x] of Object.entries(v)) {
      if (k === "rule" && typeof x === "string") rules.push(x);
      else if (k === "rules" && Array.isArray(x)) rules.push(...x.map(String));
      else walk(x, depth + 1);
    }
  };
  walk(data, 0);
  const text = Object.entries(data || {}).filter(([k, v]) => !["rule", "rules"].includes(k) && (typeof v !== "object" || v === null))
    .map(([k, v]) => `${k}: ${v}`).join(" · ");
  return h("span", {}, [...new Set(rules)].map((r) => h("span", { class: "rule" }, r)), " ", text);
}

pages.messages = async (main, params) => {
  main.append(h("h1", {}, "Messages"));
  const insts = app.net.institutions;
  const at = params.get("at") || (insts[0] && insts[0].id);
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  main.append(h("div", { class: "filters" },
    selectOf("m-at", "Institution", insts.map((i) => i.id), at, (e) => go("messages", { at: e.target.value }))), body);
  let items;
  try {
    items = (await node(at, "messages?limit=1000")).items;
  } catch (err) {
    body.replaceChildren(h("p", { class: "error-box" }, err.describe ? err.describe() : String(err)));
    return;
  }
  const f = { status: "", direction: "", sed: "" };
  const uniq = (k) => [...new Set(items.map((m) => m[k]).filter(Boolean))].sort();
  const rows = h("tbody", {});
  const apply = () => {
    const shown = items.filter((m) => (!f.status || m.status === f.status) && (!f.direction || m.direction === f.direction) && (!f.sed || m.sed_type === f.sed));
    rows.replaceChildren(...shown.map((m) => h("tr", {},
      h("td", {}, h("a", { href: messageHref(at, m.direction, m.message_id) }, m.sed_type + " " + m.sed_version)),
      h("td", {}, m.direction), h("td", {}, `${m.sender} → ${m.receiver}`), h("td", {}, caseLink(at, m.case_id)),
      h("td", {}, statusText(m.status)), h("td", {}, m.attempts), h("td", {}, when(m.created_at)),
      h("td", {}, m.last_error ? h("span", { class: "status-failed" }, m.last_error.slice(0, 90)) : ""))));
  };
  const set = (k) => (e) => { f[k] = e.target.value; apply(); };
  body.replaceChildren(h("div", { class: "filters", role: "search", "aria-label": "Filter the messages" },
    selectOf("m-status", "Status", uniq("status"), "", set("status")),
    selectOf("m-dir", "Direction", ["in", "out"], "", set("direction")),
    selectOf("m-sed", "SED", uniq("sed_type"), "", set("sed"))),
  h("table", {}, h("thead", {}, h("tr", {}, ["SED", "Dir.", "From → to", "Case", "Status", "Attempts", "Created", "Error"].map((t) => h("th", { scope: "col" }, t)))), rows));
  apply();
};

pages.message = async (main, params, irId, direction, messageId) => {
  main.append(h("h1", {}, "Message ", h("code", {}, messageId)));
  let m, view;
  try {
    [m, view] = await Promise.all([
      node(irId, "messages/" + encodeURIComponent(messageId) + "?direction=" + direction),
      api(`xml/${encodeURIComponent(irId)}/${direction}/${encodeURIComponent(messageId)}`),
    ]);
  } catch (err) {
    main.append(h("p", { class: "error-box" }, err.describe ? err.describe() : String(err)));
    return;
  }
  const receipt = m.direction === "out"
    ? (m.status === "acknowledged" ? "receipt received (acknowledged)" : m.status === "failed" ? "no receipt: delivery failed" : "no receipt yet")
    : (["refused"].includes(m.status) ? "refused at the door: an ebMS error went back" : "a receipt went back to the sender");
  main.append(h("div", { class: "grid" },
    h("section", { class: "card", "aria-labelledby": "env-h" }, h("h2", { id: "env-h" }, "Envelope"),
      h("dl", { class: "meta" },
        ...[["SED", `${m.sed_type} ${m.sed_version}`], ["Direction", m.direction === "in" ? `received at ${irId}` : `sent by ${irId}`],
          ["From", m.sender], ["To", m.receiver], ["Case (ConversationId)", m.case_id], ["Answers (RefToMessageId)", m.ref_to_message_id || "—"],
          ["Service / action", `${m.service} / ${m.action}`], ["Created", when(m.created_at)]].flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))),
    h("section", { class: "card", "aria-labelledby": "st-h" }, h("h2", { id: "st-h" }, "Status, receipt and retries"),
      h("dl", { class: "meta" },
        h("dt", {}, "Status"), h("dd", {}, statusText(m.status)),
        h("dt", {}, "Receipt"), h("dd", {}, receipt),
        h("dt", {}, "Attempts"), h("dd", {}, String(m.attempts)),
        h("dt", {}, "Next attempt"), h("dd", {}, when(m.next_attempt_at) || "—"),
        h("dt", {}, "Last error"), h("dd", {}, m.last_error || "—"),
        h("dt", {}, "Duplicates dropped"), h("dd", {}, String(m.duplicates)),
        h("dt", {}, "Received / sent"), h("dd", {}, when(m.received_at || m.sent_at) || "—"),
        h("dt", {}, "Case"), h("dd", {}, caseLink(irId, m.case_id))))));
  // every copy of it in the network: the sender's attempts, the receiver's verdict
  const copies = await api("copies/" + encodeURIComponent(messageId));
  const others = copies.copies.filter((c) => !(c.institution === irId && c.direction === direction));
  if (others.length) {
    main.append(h("section", { class: "card", "aria-labelledby": "other-h" }, h("h2", { id: "other-h" }, "Its other copies in the network"),
      h("ul", {}, others.map((o) => h("li", {},
        h("a", { href: messageHref(o.institution, o.direction, messageId) }, `${o.direction === "out" ? "sent by" : "received by"} ${o.institution}`),
        ": ", statusText(o.status), `, ${o.attempts} attempt(s)`, o.last_error ? ` — ${o.last_error}` : "")))));
  }
  main.append(h("h2", {}, "Document", view.pretty ? " (indented for reading)" : ""));
  if (view.ok) main.append(h("p", { class: "ok-box" }, `Valid ${view.sed} ${view.version}.`));
  else main.append(h("div", { class: "error-box", id: "errors" },
    h("strong", {}, `${view.errors.length} validation error(s)`),
    h("ul", {}, view.errors.map((e) => h("li", {},
      e.line ? h("a", { href: "#", onclick: (ev) => { ev.preventDefault(); document.getElementById("L" + e.line).scrollIntoView({ block: "center" }); } }, `line ${e.line}`) : "no line",
      `: ${e.message}`, e.xpath ? h("code", {}, ` ${e.xpath}`) : "", ` (${e.code})`)))));
  const byLine = new Map();
  for (const e of view.errors) if (e.line) byLine.set(e.line, [...(byLine.get(e.line) || []), e]);
  main.append(h("ol", { class: "xml", "aria-label": "The document, one line per item" },
    view.lines.map((text, i) => {
      const errs = byLine.get(i + 1);
      return h("li", { id: "L" + (i + 1), class: errs ? "has-error" : null, "data-line": i + 1 },
        text, errs ? errs.map((e) => h("span", { class: "issue", role: "note" }, `▲ ${e.code}: ${e.message}`)) : null);
    })));
  if (m.envelope_bytes) {
    const pre = h("pre", { class: "raw", "aria-label": "The raw envelope" }, "Loading…");
    main.append(h("h2", {}, "Raw envelope"), pre);
    fetch(`/ui/data/node/${encodeURIComponent(irId)}/messages/${encodeURIComponent(messageId)}/raw?part=envelope&direction=${direction}`, { headers: headers() })
      .then((r) => r.text()).then((t) => { pre.textContent = t; }, () => { pre.textContent = "(not available)"; });
  }
};

pages.mocks = async (main) => {
  main.append(h("h1", {}, "Mock funds, clock and households"));
  const insts = app.net.institutions;
  const any = insts[0];
  // the virtual clock
  const clockCard = h("section", { class: "card", "aria-labelledby": "clock-h" }, h("h2", { id: "clock-h" }, "Clock"));
  main.append(clockCard);
  if (any) {
    try {
      const clock = await node(any.id, "clock");
      const out = h("p", { "aria-live": "polite" });
      const shown = (c) => { out.replaceChildren(h("strong", {}, when(c.now)), c.virtual ? " (virtual: moves only when told)" : " (the wall clock)"); };
      shown(clock);
      clockCard.append(out);
      if (clock.virtual) {
        const input = h("input", { id: "advance", value: "P1D", size: 10 });
        clockCard.append(h("form", { class: "form-row", onsubmit: async (e) => {
          e.preventDefault();
          try {
            await node(any.id, "clock", { method: "POST", body: JSON.stringify({ advance: input.value }) });
            shown(await node(any.id, "clock"));
            say("Clock moved by " + input.value);
          } catch (err) { say(err.describe ? err.describe() : String(err), true); }
        } }, h("div", {}, h("label", { for: "advance" }, "Move by (ISO 8601)"), input), h("button", { type: "submit" }, "Move the clock")),
        h("p", {}, h("button", { class: "danger", type: "button", onclick: async () => {
          try {
            await node(any.id, "reset", { method: "POST", body: "{}" });
            app.arrows.clear();
            app.stream.abort();  // a fresh stream sends every arrow again (same seeded IDs)
            await route();
            say("The network is back to its start.");
          }
          catch (err) { say(err.describe ? err.describe() : String(err), true); }
        } }, "Reset the whole network")));
      }
    } catch (err) { clockCard.append(h("p", { class: "muted" }, err.describe ? err.describe() : String(err))); }
  }
  const mocks = insts.filter((i) => i.mock_api);
  if (!mocks.length) main.append(h("p", { class: "muted" }, "No mock fund with its admin routes runs here (eessi up serves them at /api/mock/)."));
  for (const inst of mocks) main.append(await mockCard(inst));
  const cns = insts.find((i) => i.kind === "cns");
  if (cns) {
    try {
      const hh = await node(cns.id, "households?limit=1000");
      main.append(h("h2", {}, "Households known to the CNS"),
        h("table", {}, h("thead", {}, h("tr", {}, ["Household", "Main insured", "Member", "Relation", "Registration at the CNS"].map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", {}, hh.items.flatMap((x) => (x.members || []).map((m) => h("tr", { "data-member": `${x.key}/${m.id}` },
            h("td", {}, h("code", {}, x.key)), h("td", {}, (x.main_insured || []).map((p) => p.name).join(", ")),
            h("td", {}, m.name || m.id), h("td", {}, m.relation || ""),
            h("td", {}, registration(m.registration))))))));
    } catch (err) { main.append(h("p", { class: "muted" }, "Households: " + (err.describe ? err.describe() : err))); }
  }
};

function registration(reg) {
  if (!reg) return "not registered";
  const rules = reg.rules || [];
  return h("span", {}, "co-insured", reg.main_insured ? ` with ${reg.main_insured}` : "",
    reg.start ? ` from ${reg.start}` : "", " ", rules.map((r) => h("span", { class: "rule" }, r)));
}

const EFFECTS = ["answer", "delay", "refuse", "silent", "duplicate", "malformed", "wrong_version", "fail", "close", "send"];

async function mockCard(inst) {
  const id = inst.id.replace(/[^A-Za-z0-9]/g, "-");
  const card = h("section", { class: "card mock-card", "data-fund": inst.id, "aria-labelledby": "h-" + id });
  const rulesBody = h("tbody", {});
  const refresh = async () => {
    const rules = await node(inst.id, "mock/rules");
    const list = rules.rules || rules.items || rules;
    rulesBody.replaceChildren(...list.map((r) => h("tr", { "data-rule": r.id },
      h("td", {}, h("code", {}, r.id)), h("td", {}, h("code", {}, JSON.stringify(r.match || {}))),
      h("td", {}, h("code", {}, JSON.stringify(r.effect || {}))), h("td", {}, r.origin || ""),
      h("td", {}, h("button", { type: "button", class: "danger", "aria-label": `Remove rule ${r.id} of ${inst.id}`, onclick: async () => {
        try { await node(inst.id, "mock/rules/" + encodeURIComponent(r.id), { method: "DELETE" }); say(`Rule ${r.id} removed from ${inst.id}`); await refresh(); }
        catch (err) { say(err.describe ? err.describe() : String(err), true); }
      } }, "Remove")))));
    if (!list.length) rulesBody.append(h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No rule: the fund follows the BUC rules.")));
  };
  const f = (name, label, input) => h("div", {}, h("label", { for: `${id}-${name}` }, label), input);
  const sed = h("input", { id: `${id}-sed`, size: 6, placeholder: "S071" });
  const kase = h("input", { id: `${id}-case`, size: 18, placeholder: "case ID" });
  const person = h("input", { id: `${id}-person`, size: 16, placeholder: "household/member or PIN" });
  const kind = h("select", { id: `${id}-kind` }, EFFECTS.map((k) => h("option", { value: k }, k)));
  const params = h("input", { id: `${id}-params`, size: 28, placeholder: '{"x011": "04"}' });
  const error = h("div", { role: "alert" });
  card.append(h("h2", { id: "h-" + id }, inst.id, " ", pill(inst.id), " ", h("span", { class: "muted" }, inst.name)),
    h("table", {}, h("caption", { class: "muted" }, "Rules in force (the most specific wins)"),
      h("thead", {}, h("tr", {}, ["Rule", "Match", "Effect", "Origin", ""].map((t) => h("th", { scope: "col" }, t)))), rulesBody),
    h("form", { class: "form-row", "aria-label": `Add a rule to ${inst.id}`, onsubmit: async (e) => {
      e.preventDefault();
      error.replaceChildren();
      const match = {};
      if (sed.value.trim()) match.sed = sed.value.trim();
      if (kase.value.trim()) match.case = kase.value.trim();
      if (person.value.trim()) match.person = person.value.trim();
      let extra = {};
      try { extra = params.value.trim() ? JSON.parse(params.value) : {}; }
      catch (err) { error.replaceChildren(h("p", { class: "error-box" }, "Parameters: not JSON (" + err.message + ")")); return; }
      try {
        await node(inst.id, "mock/rules", { method: "POST", body: JSON.stringify({ match, effect: Object.assign({ kind: kind.value }, extra) }) });
        say(`Rule added to ${inst.id}`);
        await refresh();
      } catch (err) { error.replaceChildren(h("p", { class: "error-box" }, err.describe ? err.describe() : String(err))); }
    } },
    f("sed", "SED", sed), f("case", "Case", kase), f("person", "Person", person), f("kind", "Effect", kind),
    f("params", "Parameters (JSON)", params), h("button", { type: "submit" }, "Add rule"),
    h("button", { type: "button", class: "secondary", onclick: async () => {
      try { await node(inst.id, "mock/reset", { method: "POST", body: "{}" }); say(`${inst.id} back to its profile`); await refresh(); }
      catch (err) { say(err.describe ? err.describe() : String(err), true); }
    } }, "Reset to profile")), error);
  try { await refresh(); } catch (err) { error.replaceChildren(h("p", { class: "error-box" }, err.describe ? err.describe() : String(err))); }
  return card;
}

pages.demo = async (main) => {
  if (!app.demo) app.demo = await api("demo");
  const head = h("div", {});
  const controls = h("div", { class: "controls", role: "group", "aria-label": "Demo controls" });
  const caption = h("div", { class: "caption", "aria-live": "polite", id: "caption" });
  const steps = h("ol", { class: "steps", "aria-label": "Steps" });
  const outcome = h("div", { id: "outcome" });
  const diagram = h("div", {});
  const act = (a) => async () => {
    try { app.demo = await api("demo/" + a, { method: "POST" }); draw(); } catch (err) { say(err.describe ? err.describe() : String(err), true); }
  };
  const next = h("button", { type: "button", onclick: act("next"), "aria-keyshortcuts": "n" }, "Next step");
  const play = h("button", { type: "button", class: "secondary", onclick: act("play"), "aria-keyshortcuts": "p" }, "Play");
  const pause = h("button", { type: "button", class: "secondary", onclick: act("pause") }, "Pause");
  const mode = h("span", { class: "muted", id: "demo-mode" });
  controls.append(next, play, pause, mode);
  main.append(head, controls, caption, h("div", { class: "grid" },
    h("section", {}, h("h2", {}, "Steps"), steps), h("section", {}, h("h2", {}, "Outcome"), outcome)),
  h("h2", {}, "Sequence"), diagram);
  const draw = () => {
    const d = app.demo;
    head.replaceChildren(h("h1", {}, "Demo: ", d.title), h("p", {}, d.rules.map((r) => h("span", { class: "rule" }, r))),
      h("p", {}, d.description));
    const over = d.mode === "done" || d.mode === "failed";
    next.disabled = over; play.disabled = over || d.mode === "playing"; pause.disabled = over || d.mode !== "playing";
    mode.textContent = { starting: "starting the network…", ready: "ready: press Next step or Play", playing: "playing", paused: "paused", done: "finished", failed: "stopped: a step failed" }[d.mode] || d.mode;
    steps.replaceChildren(...d.steps.map((st) => h("li", { class: st.index === d.current && !over ? "playing" : st.status }, st.title)));
    const cur = d.steps[d.current - 1];
    caption.replaceChildren(cur
      ? h("div", {}, h("strong", {}, `Step ${cur.index} of ${d.steps.length}: `, cur.title),
        cur.lines.length ? h("ul", {}, cur.lines.map((l) => h("li", {}, rulesIn(l)))) : h("p", { class: "muted" }, "playing…"))
      : h("p", {}, d.mode === "starting" ? "Starting the CNS and the mock funds…" : `${d.steps.length} steps. Press Next step to begin.`));
    if (d.error) caption.append(h("p", { class: "error-box" }, d.error));
    if (d.outcome) {
      outcome.replaceChildren(h("ul", { class: "outcome" }, d.members.map((m) => {
        const got = d.outcome[m.id] || {};
        const verdict = String(got.outcome || "none");
        return h("li", { "data-member": m.id },
          h("span", { class: "verdict " + verdict }, `${m.name} (${m.relation}): ${verdict.toUpperCase().replace(/_/g, " ")}`),
          verdict === "registered" ? ` with ${got.main_insured} from ${got.start}` : "",
          (got.missing || []).length ? `; waiting for ${got.missing.join(", ")}` : "",
          verdict === "none" ? " (not part of this demo)" : "",
          h("ul", {}, (got.reasons || []).map((r) => h("li", {}, rulesIn(r)))));
      })));
    } else outcome.replaceChildren(h("p", { class: "muted" }, "Shown once the last step has played."));
    const arrows = [...app.arrows.values()];
    diagram.replaceChildren(arrows.length ? sequenceDiagram(arrows, participantsFor(arrows, d.institutions)) : h("p", { class: "muted" }, "No message yet."));
  };
  draw();
  main.addEventListener("keydown", (e) => {
    if (e.target.closest("input, select, textarea")) return;
    if (e.key === "n") next.click();
    if (e.key === "p") (app.demo.mode === "playing" ? pause : play).click();
  });
  return (event) => { if (event === "demo" || event === "arrow") draw(); };
};

pages.reports = async (main) => {
  main.append(h("h1", {}, "Conformance reports"));
  const list = app.net.reports;
  main.append(list.length
    ? h("ul", {}, list.map((r) => h("li", {}, h("a", { href: "/ui/data/reports/" + encodeURIComponent(r) }, r))))
    : h("p", { class: "muted" }, "No report: run eessi conformance with --report-dir DIR and start the network with EESSI_REPORT_DIR=DIR."));
};

// ---------------------------------------------------------------- routing

function go(page, params) {
  const q = new URLSearchParams(params || {}).toString();
  location.hash = "#/" + page + (q ? "?" + q : "");
}

let routeSeq = 0;

async function route() {
  const seq = ++routeSeq;
  const raw = location.hash.replace(/^#\/?/, "") || (app.net && app.net.demo ? "demo" : "flow");
  const [path, query] = raw.split("?");
  const parts = path.split("/").map(decodeURIComponent);
  const name = pages[parts[0]] ? parts[0] : "flow";
  const navName = { case: "cases", message: "messages" }[name] || name;
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.page === navName) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  app.listeners.clear();
  const main = document.getElementById("main");
  const fresh = h("div", {});
  main.replaceChildren(fresh);
  say("");
  const titles = { flow: "Live flow", cases: "Cases", case: "Case", messages: "Messages", message: "Message", mocks: "Mocks", demo: "Demo", reports: "Conformance" };
  document.title = `${titles[name]} · eessi-sim`;
  const listener = await pages[name](fresh, new URLSearchParams(query || ""), ...parts.slice(1));
  if (seq !== routeSeq) return;
  if (typeof listener === "function") app.listeners.add(listener);
  fresh.dataset.ready = "true";
}

async function start() {
  document.getElementById("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem("eessi-token", document.getElementById("token").value);
    location.reload();
  });
  try {
    app.net = await api("network");
  } catch (err) {
    say("The dashboard cannot read this network: " + (err.describe ? err.describe() : err), true);
    return;
  }
  document.getElementById("where").textContent = app.net.here ? `· served by ${app.net.here}` : `· ${app.net.institutions.length} institutions`;
  document.getElementById("nav-demo").hidden = !app.net.demo;
  document.getElementById("nav-reports").hidden = !app.net.reports.length;
  window.addEventListener("hashchange", route);
  listen();
  await route();
}

start();
