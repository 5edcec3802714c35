// redress dashboard: one page over the daemon's own JSON API (no external network).
// The token is sent once, to POST /api/session; the page then works with the
// HttpOnly session cookie and echoes the CSRF token on every change.
"use strict";

const TEXT = {
  en: {
    login_title: "Log in with your agent token", login: "Log in", logout: "Log out", token: "agent token",
    backlog: "Backlog per queue", queue: "Queue", open: "Open", unassigned: "Unassigned", breached: "Breached",
    oldest: "Oldest waiting", sla: "SLA compliance", scope: "Scope", met: "Met", compliance: "Compliance",
    past_deadline: "Past their deadline", open_cases: "Open cases", priority: "Priority", assignee: "Assignee",
    subject: "Subject", refunds_review: "Refunds waiting for review", case: "Case", amount: "Amount",
    reason: "Reason", feed: "Live events", close: "Close", deadlines: "Deadlines", reassign: "Reassign",
    escalate: "Escalate", history: "History", agent_name: "agent name", cases: "Cases", open_now: "Open now",
    breached_open: "Open and breached", first_response: "First response (median / p90)",
    resolution: "Resolution (median / p90)", done: "Done", none: "none", bad_token: "Wrong token",
    no_stats: "Figures are for supervisors, finance and admins", csat: "Satisfaction", connected: "live", disconnected: "reconnecting",
    history_chart: "Opened, resolved and breached", last_48h: "48 hours", last_14d: "14 days", opened: "opened",
    resolved: "resolved", breaches: "breaches", explain: "Explain", decisions: "Decisions", hook: "Hook",
    output: "Output", version: "Rules", per_hour: "per hour", per_day: "per day", catching_up: "counting…",
    incidents: "Incidents (spikes)", key: "Spike", state: "State", linked: "Cases", since: "Since",
    show_older: "Show older events", loading: "loading…", bad_answer: "failed:",
    older_left: (n) => "Showing the " + n + " newest events; older events are not shown yet.",
  },
  zh: {
    login_title: "使用坐席令牌登录", login: "登录", logout: "退出", token: "坐席令牌",
    backlog: "各队列积压", queue: "队列", open: "未结", unassigned: "未分配", breached: "已超时",
    oldest: "最长等待", sla: "SLA 达成率", scope: "范围", met: "达成", compliance: "达成率",
    past_deadline: "已超过时限", open_cases: "未结工单", priority: "优先级", assignee: "处理人",
    subject: "主题", refunds_review: "待审核退款", case: "工单", amount: "金额",
    reason: "原因", feed: "实时事件", close: "关闭", deadlines: "时限", reassign: "改派",
    escalate: "升级", history: "历史", agent_name: "坐席名", cases: "工单总数", open_now: "当前未结",
    breached_open: "未结且超时", first_response: "首次响应（中位数 / p90）",
    resolution: "解决时长（中位数 / p90）", done: "完成", none: "无", bad_token: "令牌错误",
    no_stats: "统计数据仅对主管、财务和管理员开放", csat: "满意度", connected: "实时", disconnected: "重新连接中",
    history_chart: "新建、解决与超时", last_48h: "48 小时", last_14d: "14 天", opened: "新建", resolved: "解决",
    breaches: "超时", explain: "决策说明", decisions: "规则决策", hook: "环节", output: "结果", version: "规则版本",
    per_hour: "每小时", per_day: "每天", catching_up: "统计中…",
    incidents: "突发事件（激增）", key: "激增特征", state: "状态", linked: "工单数", since: "开始于",
    show_older: "显示更早的事件", loading: "加载中…", bad_answer: "失败：",
    older_left: (n) => "当前显示最新的 " + n + " 条事件，更早的事件尚未显示。",
  },
};

let lang = (localStorage.getItem("redress.lang") || (navigator.language || "en")).startsWith("zh") ? "zh" : "en";
let csrf = null;
let events = null;
let openCase = null;
let refreshTimer = null;
let historyHours = 48;
let historyAt = 0;
// The open case's history as shown, oldest first: GET /api/cases/{id} gives
// the newest page; "show older events" asks for the page before caseBefore
// while caseMore says one is left.
let caseEvents = [];
let caseMore = false;
let caseBefore = null;

const $ = (id) => document.getElementById(id);
const t = (key) => TEXT[lang][key] || key;

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function translate() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-t]").forEach((n) => { n.textContent = t(n.dataset.t); });
  document.querySelectorAll("[data-tp]").forEach((n) => { n.placeholder = t(n.dataset.tp); });
  $("lang").textContent = lang === "zh" ? "English" : "中文";
  olderControl();
}

async function api(method, path, body) {
  const options = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  if (method !== "GET" && csrf) options.headers["X-CSRF-Token"] = csrf;
  const response = await fetch(path, options);
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  return { status: response.status, data };
}

function seconds(s) {
  if (s === null || s === undefined || s === "") return "—";
  s = Number(s);
  if (s < 60) return s + "s";
  if (s < 3600) return Math.round(s / 60) + "m";
  if (s < 86400) return (s / 3600).toFixed(1) + "h";
  return (s / 86400).toFixed(1) + "d";
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
  if (rows.length === 0) {
    const tr = el("tr");
    const td = el("td", t("none"));
    const head = tbody.parentElement.tHead;
    td.colSpan = (head && head.rows[0].cells.length) || 5;
    tr.append(td);
    tbody.append(tr);
  }
}

function caseRow(c) {
  const tr = el("tr", null, "clickable");
  tr.dataset.case = c.id;
  tr.append(el("td", c.id), el("td", c.priority), el("td", c.queue), el("td", c.assignee || "—"), el("td", c.subject));
  tr.addEventListener("click", () => showCase(c.id));
  return tr;
}

function chart(queues) {
  const svg = $("backlog-chart");
  const ns = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  const max = Math.max(1, ...queues.map((q) => q.open));
  const width = 400 / Math.max(1, queues.length);
  queues.forEach((q, i) => {
    const h = Math.round((q.open / max) * 90);
    const b = Math.round((q.breached / max) * 90);
    const bar = document.createElementNS(ns, "rect");
    bar.setAttribute("x", i * width + 6); bar.setAttribute("y", 100 - h);
    bar.setAttribute("width", width - 12); bar.setAttribute("height", h);
    const red = document.createElementNS(ns, "rect");
    red.setAttribute("class", "breached");
    red.setAttribute("x", i * width + 6); red.setAttribute("y", 100 - b);
    red.setAttribute("width", width - 12); red.setAttribute("height", b);
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", i * width + 6); label.setAttribute("y", 114);
    label.textContent = q.queue + " " + q.open;
    svg.append(bar, red, label);
  });
}

// Opened, resolved and breaches per hour (48 hours) or per day (14 days,
// UTC days summed from the hours), from STATS.HISTORY over the event log.
async function history() {
  historyAt = Date.now();
  const answer = await api("GET", "/api/history?hours=" + historyHours);
  const section = $("history");
  if (answer.status !== 200 || !answer.data) { section.hidden = true; return; }
  section.hidden = false;
  let buckets = answer.data.hours;
  if (historyHours > 48) {
    const days = new Map();
    for (const h of buckets) {
      const day = h.at - (h.at % 86400);
      const d = days.get(day) || { at: day, opened: 0, resolved: 0, breached: 0 };
      d.opened += h.opened; d.resolved += h.resolved; d.breached += h.breached;
      days.set(day, d);
    }
    buckets = [...days.values()];
  }
  const svg = $("history-chart");
  const ns = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  const max = Math.max(1, ...buckets.map((b) => Math.max(b.opened, b.resolved, b.breached)));
  const slot = 780 / Math.max(1, buckets.length), bar = Math.max(1, slot / 3 - 1);
  const base = 150, height = 140;
  const axis = document.createElementNS(ns, "line");
  axis.setAttribute("x1", 10); axis.setAttribute("x2", 790); axis.setAttribute("y1", base); axis.setAttribute("y2", base);
  svg.append(axis);
  const totals = { opened: 0, resolved: 0, breached: 0 };
  buckets.forEach((b, i) => {
    [["opened", b.opened], ["resolved", b.resolved], ["breaches", b.breached]].forEach(([cls, v], k) => {
      const h = Math.round((v / max) * height);
      const r = document.createElementNS(ns, "rect");
      r.setAttribute("class", cls);
      r.setAttribute("x", 10 + i * slot + k * (bar + 1)); r.setAttribute("y", base - h);
      r.setAttribute("width", bar); r.setAttribute("height", h);
      r.dataset.at = b.at; r.dataset.value = v;
      const tip = document.createElementNS(ns, "title");
      tip.textContent = new Date(b.at * 1000).toLocaleString() + " " + t(cls) + " " + v;
      r.append(tip);
      svg.append(r);
    });
    totals.opened += b.opened; totals.resolved += b.resolved; totals.breached += b.breached;
    if (i % Math.ceil(buckets.length / 8) === 0) {
      const label = document.createElementNS(ns, "text");
      label.setAttribute("x", 10 + i * slot); label.setAttribute("y", 166);
      const when = new Date(b.at * 1000);
      label.textContent = historyHours > 48 ? when.toLocaleDateString() : when.getHours() + ":00";
      svg.append(label);
    }
  });
  $("history-totals").textContent = "· " + (historyHours > 48 ? t("per_day") : t("per_hour")) + " · " +
    t("opened") + " " + totals.opened + " · " + t("resolved") + " " + totals.resolved + " · " + t("breaches") + " " +
    totals.breached + (answer.data.complete ? "" : " · " + t("catching_up"));
  section.dataset.opened = totals.opened;
  section.dataset.resolved = totals.resolved;
  section.dataset.breached = totals.breached;
}

async function refresh() {
  // The charts move slowly: at most every 10 s (and on the range buttons).
  if (Date.now() - historyAt > 10000) history();
  const [queues, breached, open, refunds, stats, incidents] = await Promise.all([
    api("GET", "/api/queues"), api("GET", "/api/cases?breached=true&limit=50"),
    api("GET", "/api/cases?state=open&limit=50"), api("GET", "/api/refunds?state=review&limit=50"),
    api("GET", "/api/stats"), api("GET", "/api/incidents?limit=20"),
  ]);
  if (queues.status === 401) return showLogin();
  const qs = (queues.data && queues.data.queues) || [];
  fill($("queues").tBodies[0], qs.map((q) => {
    const tr = el("tr");
    tr.append(el("td", q.queue), el("td", q.open, "num"), el("td", q.unassigned, "num"),
      el("td", q.breached, q.breached ? "num bad" : "num"), el("td", seconds(q.oldest_waiting_seconds), "num"));
    return tr;
  }));
  chart(qs);
  fill($("breached-cases").tBodies[0], ((breached.data && breached.data.cases) || []).map(caseRow));
  fill($("open-cases").tBodies[0], ((open.data && open.data.cases) || []).map(caseRow));
  fill($("refunds").tBodies[0], ((refunds.data && refunds.data.refunds) || []).map((r) => {
    const tr = el("tr", null, "clickable");
    tr.append(el("td", r.id), el("td", r.case), el("td", r.amount + " " + r.currency, "num"), el("td", r.reason || ""));
    tr.addEventListener("click", () => showCase(r.case));
    return tr;
  }));
  // Spikes gathered into incidents, newest first: each case of a spike is an
  // "opened" event on the stream, which refreshes this list as it grows.
  fill($("incidents").tBodies[0], ((incidents.data && incidents.data.incidents) || []).map((i) => {
    const tr = el("tr", null, "clickable");
    tr.dataset.key = i.key;
    tr.append(el("td", i.id), el("td", i.key), el("td", i.state, i.state === "resolved" || i.state === "closed" ? "" : "bad"),
      el("td", i.cases, "num"), el("td", i.queue), el("td", new Date(i.opened_at * 1000).toLocaleString()));
    tr.addEventListener("click", () => showCase(i.id));
    return tr;
  }));
  const cards = $("cards");
  if (stats.status === 200 && stats.data) {
    const s = stats.data;
    cards.replaceChildren(card(t("cases"), s.cases), card(t("open_now"), s.open),
      card(t("breached_open"), s.breached_open, s.breached_open ? "bad" : ""),
      card(t("csat") + " (" + s.csat_responses + ")", s.csat_average === "" ? "—" : s.csat_average + " / 5"));
    const rows = [];
    for (const [group, label] of [["sla", "P"], ["sla_queue", ""]]) {
      for (const [scope, v] of Object.entries(s[group] || {})) {
        const tr = el("tr");
        const pct = parseFloat(v.compliance);
        tr.append(el("td", (label ? "" : t("queue") + " ") + scope), el("td", v.met, "num"), el("td", v.breached, "num"),
          el("td", v.compliance, pct >= 90 ? "num ok" : pct >= 75 ? "num warn" : "num bad"));
        rows.push(tr);
      }
    }
    fill($("sla").tBodies[0], rows);
    $("times").textContent = t("first_response") + ": " + seconds(s.first_response_median) + " / " +
      seconds(s.first_response_p90) + " · " + t("resolution") + ": " + seconds(s.resolution_median) + " / " +
      seconds(s.resolution_p90);
  } else {
    cards.replaceChildren();
    fill($("sla").tBodies[0], []);
    $("times").textContent = t("no_stats");
  }
}

function card(label, value, cls) {
  const c = el("div", null, "card");
  c.append(el("b", value, cls), el("span", label));
  return c;
}

function refreshSoon() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); if (openCase) showCase(openCase); }, 250);
}

function feed(message) {
  let data;
  try { data = JSON.parse(message.data); } catch (e) { return; }
  const li = el("li", "#" + data.case + " " + data.kind + " " + data.queue + " " + data.actor + " " + data.detail, data.kind);
  li.dataset.case = data.case;
  const list = $("feed");
  list.prepend(li);
  while (list.children.length > 200) list.lastChild.remove();
  refreshSoon();
}

function listen() {
  if (events) events.close();
  events = new EventSource("/api/events");
  for (const kind of ["opened", "assigned", "deadline_warning", "deadline_breached", "escalated", "transferred",
                      "notification", "refund_decided"]) events.addEventListener(kind, feed);
  events.addEventListener("reset", refreshSoon);
  events.onopen = () => { $("who").dataset.live = "1"; };
  events.onerror = () => { $("who").dataset.live = "0"; };
}

async function explain() {
  const answer = await api("GET", "/api/cases/" + openCase + "/explain");
  if (answer.status !== 200 || !answer.data) return;
  $("case-decisions").tBodies[0].replaceChildren(...answer.data.decisions.map((d) => {
    const tr = el("tr");
    tr.dataset.hook = d.hook;
    tr.append(el("td", d.hook), el("td", d.output || d.error || ""), el("td", d.reason || ""), el("td", d.version || ""));
    return tr;
  }));
  $("explain-view").hidden = false;
}

async function showCase(id) {
  const answer = await api("GET", "/api/cases/" + id);
  if (answer.status !== 200) return;
  const previous = openCase;
  if (openCase !== id) $("explain-view").hidden = true;
  openCase = id;
  const c = answer.data.case;
  $("case-id").textContent = c.id;
  const fields = $("case-fields");
  fields.replaceChildren();
  for (const key of ["state", "priority", "queue", "assignee", "category", "customer", "channel", "subject", "body",
                     "order", "amount", "currency", "escalation", "tags"]) {
    fields.append(el("dt", key), el("dd", c[key] === "" || c[key] === null ? "—" : c[key]));
  }
  const deadlines = $("case-deadlines").tBodies[0];
  deadlines.replaceChildren(...Object.entries(c.deadlines || {}).map(([kind, d]) => {
    const tr = el("tr");
    tr.append(el("td", kind), el("td", d.state, d.state === "breached" ? "bad" : ""),
      el("td", d.due_at ? new Date(d.due_at * 1000).toLocaleString() : "—"), el("td", seconds(d.left)));
    return tr;
  }));
  caseHistory(id === previous, answer.data);
  $("case-view").hidden = false;
}

function eventItem(e) {
  const li = el("li", new Date(e.at * 1000).toLocaleString() + " " + e.actor + " " + e.kind + " " + e.detail);
  li.dataset.id = e.id;
  li.tabIndex = -1;   // focus lands here when the last older page is in (see older())
  return li;
}

// The newest page of the open case's history.  The same case shown again
// (after an action or a live event) keeps the older pages already loaded when
// the new page still reaches the events shown; a gap (more new events than a
// page) starts over from the newest page, never showing a hole.
function caseHistory(same, data) {
  const page = data.history || [];
  const first = page.length ? Number(page[0].id) : null;
  if (same && first !== null && caseEvents.some((e) => Number(e.id) === first)) {
    caseEvents = caseEvents.filter((e) => Number(e.id) < first).concat(page);
  } else {
    caseEvents = page;
    caseMore = data.history_more === true;
    caseBefore = caseMore ? data.history_before : null;
  }
  $("case-history").replaceChildren(...caseEvents.map(eventItem));
  $("older-result").textContent = "";
  olderControl();
}

// The note and button above the history while older events are left.
function olderControl() {
  const box = $("older");
  if (!box) return;
  box.hidden = !caseMore;
  $("older-note").textContent = caseMore ? t("older_left")(caseEvents.length) : "";
}

// The page before the oldest event shown, prepended; an answer for another
// case or page (the view moved on meanwhile) is dropped.
async function older() {
  if (!caseMore || openCase === null) return;
  const id = openCase, before = caseBefore, button = $("older-load");
  button.disabled = true;
  $("older-result").textContent = t("loading");
  let answer;
  try {
    answer = await api("GET", "/api/cases/" + id + "?history_before=" + encodeURIComponent(before));
  } catch (e) {
    answer = { status: 0, data: null };
  }
  button.disabled = false;
  if (openCase !== id || caseBefore !== before) return;
  if (answer.status !== 200 || !answer.data) {
    $("older-result").textContent = (answer.data && answer.data.message) || t("bad_answer") + " " + answer.status;
    return;
  }
  $("older-result").textContent = "";
  const page = answer.data.history || [];
  caseEvents = page.concat(caseEvents);
  caseMore = answer.data.history_more === true;
  caseBefore = caseMore ? answer.data.history_before : null;
  const list = $("case-history");
  list.prepend(...page.map(eventItem));
  olderControl();
  // The button is gone with the last page: keep the keyboard's place on the
  // oldest event rather than losing focus to the page.
  if (!caseMore && list.firstChild) list.firstChild.focus();
}

async function act(path, body) {
  const answer = await api("POST", "/api/cases/" + openCase + path, body);
  $("action-result").textContent = answer.status === 200 ? t("done") : (answer.data && answer.data.message) || answer.status;
  $("action-result").className = answer.status === 200 ? "ok" : "error";
  if (answer.status === 200) { showCase(openCase); refreshSoon(); }
}

function showLogin() {
  if (events) events.close();
  $("app").hidden = true;
  $("logout").hidden = true;
  $("login-view").hidden = false;
  $("who").textContent = "";
}

function showApp(session) {
  csrf = session.csrf;
  $("who").textContent = session.agent + " · " + session.role + (session.queues ? " · " + session.queues : "");
  $("login-view").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = false;
  refresh();
  listen();
}

document.addEventListener("DOMContentLoaded", async () => {
  translate();
  $("lang").addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem("redress.lang", lang);
    translate();
    refresh();
  });
  $("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    const answer = await api("POST", "/api/session", { token: $("token").value.trim() });
    $("token").value = "";
    if (answer.status === 200) showApp(answer.data);
    else $("login-error").textContent = (answer.data && answer.data.message) || t("bad_token");
  });
  $("logout").addEventListener("click", async () => { await api("DELETE", "/api/session"); csrf = null; showLogin(); });
  $("case-close").addEventListener("click", () => { $("case-view").hidden = true; openCase = null; });
  $("assign-form").addEventListener("submit", (e) => { e.preventDefault(); act("/assign", { agent: $("assign-agent").value.trim() }); });
  $("escalate").addEventListener("click", () => act("/escalate", { reason: "from the dashboard" }));
  $("explain").addEventListener("click", explain);
  $("older-load").addEventListener("click", older);
  document.querySelectorAll("#history .range button").forEach((b) => b.addEventListener("click", () => {
    historyHours = Number(b.dataset.range);
    document.querySelectorAll("#history .range button").forEach((o) => o.classList.toggle("active", o === b));
    history();
  }));
  const session = await api("GET", "/api/session");
  if (session.status === 200) showApp(session.data);
  else showLogin();
});
