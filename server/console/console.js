// durastream web console: plain JavaScript over the public HTTP API and the admin listings.
// Every value from the server is put in the page as text (textContent), never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { prefix: "/v1/stream", after: null, live: null, history: [], stream: null };

// ---- HTTP ----------------------------------------------------------------------------

function token() { return sessionStorage.getItem("durastream-token") || ""; }

function streamUrl(path, query) {
  const enc = path.split("/").map(encodeURIComponent).join("/");
  return `${state.prefix}/${enc}${query ? "?" + query : ""}`;
}

async function api(method, url, { body, headers = {}, signal } = {}) {
  const h = new Headers(headers);
  if (token()) h.set("authorization", "Bearer " + token());
  const r = await fetch(url, { method, body, headers: h, signal, cache: "no-store" });
  if (!r.ok && r.status !== 204) {
    let msg = (await r.text()).trim();
    try { msg = JSON.parse(msg).error.message || msg; } catch (_) { /* plain text */ }
    const err = new Error(`${r.status} ${r.statusText}${msg ? ": " + msg : ""}`);
    err.status = r.status;
    throw err;
  }
  return r;
}

function toast(text) {
  const t = $("toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 2500);
}

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props);
  for (const c of children) e.append(c);
  return e;
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}

function isJson(ct) { return /^application\/(.+\+)?json\b/i.test((ct || "").split(";")[0].trim()); }

// ---- Confirmation dialog --------------------------------------------------------------

function confirmDialog(text, okLabel) {
  const d = $("confirm");
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = okLabel;
  d.returnValue = "";
  d.showModal();
  return new Promise((resolve) => {
    d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
  });
}

// ---- Stream list ----------------------------------------------------------------------

async function loadStreams(reset) {
  const tbody = $("streams-table").tBodies[0];
  if (reset) { tbody.replaceChildren(); state.after = null; }
  const q = new URLSearchParams({ limit: "50" });
  if (state.after) q.set("after", state.after);
  if ($("filter").value) q.set("prefix", $("filter").value);
  const page = await (await api("GET", `${state.prefix}/__ds/streams?${q}`)).json();
  for (const s of page.streams) {
    const open = () => { location.hash = "#/stream/" + encodeURIComponent(s.path); };
    const link = el("a", { href: "#/stream/" + encodeURIComponent(s.path), textContent: s.path });
    const badge = el("span", { className: "badge" + (s.closed ? " closed" : ""),
      textContent: s.closed ? "closed" : "open" });
    const ttl = s.ttl_seconds != null ? `${s.ttl_seconds} s` : (s.expires_at || "–");
    const row = el("tr", { onclick: open },
      el("td", { className: "path" }, link), el("td", { textContent: s.content_type }),
      el("td", { textContent: bytes(s.bytes) }), el("td", {}, badge),
      el("td", { textContent: ttl }), el("td", { textContent: String(s.producers) }));
    row.dataset.path = s.path;
    tbody.append(row);
  }
  state.after = page.next_after;
  $("more").hidden = !page.next_after;
  $("streams-empty").hidden = tbody.rows.length > 0;
}

async function createStream(ev) {
  ev.preventDefault();
  $("create-error").textContent = "";
  const path = $("create-path").value.trim().replace(/^\/+/, "");
  const headers = { "content-type": $("create-type").value };
  if ($("create-ttl").value) headers["stream-ttl"] = $("create-ttl").value;
  try {
    const r = await api("PUT", streamUrl(path), { headers });
    toast(r.status === 201 ? `Created ${path}` : `${path} already exists`);
    $("create-form").hidden = true;
    $("create-form").reset();
    location.hash = "#/stream/" + encodeURIComponent(path);
  } catch (e) {
    $("create-error").textContent = e.message;
  }
}

// ---- One stream -----------------------------------------------------------------------

async function showStream(path) {
  const head = await api("HEAD", streamUrl(path));
  const q = new URLSearchParams({ prefix: path, limit: "1" });
  const listed = (await (await api("GET", `${state.prefix}/__ds/streams?${q}`)).json())
    .streams.find((s) => s.path === path) || {};
  const ct = head.headers.get("content-type") || "";
  state.stream = { path, ct, json: isJson(ct), closed: head.headers.get("stream-closed") === "true" };
  $("stream-title").textContent = path;
  const meta = [
    ["Content type", ct],
    ["Next offset", head.headers.get("stream-next-offset")],
    ["Size", listed.bytes != null ? bytes(listed.bytes) : "?"],
    ["State", state.stream.closed ? "closed" : "open"],
    ["TTL", head.headers.get("stream-ttl") ? head.headers.get("stream-ttl") + " s"
      : (head.headers.get("stream-expires-at") || "none")],
    ["Producers", String(listed.producers ?? "?")],
    ["Forked from", listed.forked_from || "–"],
  ];
  $("stream-meta").replaceChildren(...meta.map(([k, v]) =>
    el("div", {}, el("dt", { textContent: k }), el("dd", { textContent: v, title: k }))));
  $("close-stream").disabled = state.stream.closed;
  $("append-submit").disabled = state.stream.closed;
  $("append-hint").textContent = state.stream.closed ? "The stream is closed."
    : state.stream.json ? "One JSON value per append (checked before sending)." : "Sent as text.";
}

function messagesOf(payload, json) {
  if (!json) return payload === "" ? [] : [payload];
  return JSON.parse(payload).map((m) => JSON.stringify(m));
}

// Live messages carry the time they arrived; history has no such time to show.
function addMessages(list, messages, live) {
  const at = new Date().toLocaleTimeString();
  for (const m of messages) {
    const li = live ? el("li", { className: "new" }, el("span", { className: "at", textContent: at }), m)
      : el("li", {}, m);
    list.append(li);
  }
  list.scrollTop = list.scrollHeight;
}

// Follows the stream over SSE (with fetch, so the token header can be sent). Reconnects
// from the last offset when the server ends the response (it does every minute).
async function tail(path, from) {
  stopTail();
  const ctl = new AbortController();
  state.live = ctl;
  let offset = from;
  const status = $("live-status");
  while (!ctl.signal.aborted) {
    try {
      const r = await api("GET", streamUrl(path, `offset=${encodeURIComponent(offset)}&live=sse`),
        { signal: ctl.signal });
      const b64 = r.headers.get("stream-sse-data-encoding") === "base64";
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value.replace(/\r\n?/g, "\n");
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = "message";
          const data = [];
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) event = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
          }
          const payload = data.join("\n");
          if (event === "data") {
            const text = b64 ? decodeBase64(payload) : payload;
            addMessages($("live-log"), messagesOf(text, state.stream.json && !b64), true);
          } else if (event === "control") {
            const c = JSON.parse(payload);
            offset = c.streamNextOffset;
            const shown = document.querySelector('#stream-meta dd[title="Next offset"]');
            if (shown) shown.textContent = offset;
            if (c.streamClosed) {
              status.textContent = `stream closed at offset ${offset}`;
              return;
            }
            status.textContent = `live · up to date at offset ${offset}`;
          }
        }
      }
    } catch (e) {
      if (ctl.signal.aborted) return;
      status.textContent = `disconnected (${e.message}); retrying…`;
      await new Promise((res) => setTimeout(res, 1000));
    }
  }
}

function decodeBase64(s) {
  const bin = atob(s.replace(/\n/g, ""));
  const text = new TextDecoder("utf-8", { fatal: false }).decode(
    Uint8Array.from(bin, (ch) => ch.charCodeAt(0)));
  return /[\u0000-\u0008\u000e-\u001f]/.test(text) ? `<${bin.length} bytes of binary data>` : text;
}

function stopTail() {
  if (state.live) state.live.abort();
  state.live = null;
}

// History: catch-up pages forward from the beginning, with a stack to go back.
async function historyPage(offset) {
  const r = await api("GET", streamUrl(state.stream.path, `offset=${encodeURIComponent(offset)}`));
  const next = r.headers.get("stream-next-offset");
  const text = state.stream.json ? await r.text()
    : decodeBinary(new Uint8Array(await r.arrayBuffer()));
  const list = $("history-log");
  list.replaceChildren();
  const messages = messagesOf(text, state.stream.json);
  addMessages(list, messages, false);
  list.scrollTop = 0;
  state.historyAt = { offset, next, end: r.headers.get("stream-up-to-date") === "true" };
  $("hist-prev").disabled = state.history.length === 0;
  $("hist-next").disabled = state.historyAt.end;
  $("hist-pos").textContent = `page ${state.history.length + 1} · ${messages.length} ` +
    `message(s) · offset ${offset} → ${next}${state.historyAt.end ? " (end)" : ""}`;
}

function decodeBinary(buf) {
  const text = new TextDecoder("utf-8", { fatal: false }).decode(buf);
  return /[\u0000-\u0008\u000e-\u001f]/.test(text) ? `<${buf.length} bytes of binary data>` : text;
}

function selectTab(name) {
  const live = name === "live";
  $("tab-live").setAttribute("aria-selected", String(live));
  $("tab-history").setAttribute("aria-selected", String(!live));
  $("pane-live").hidden = !live;
  $("pane-history").hidden = live;
  if (!live && !state.historyAt) {
    state.history = [];
    historyPage("-1").catch((e) => toast(e.message));
  }
}

async function append(ev) {
  ev.preventDefault();
  const err = $("append-error");
  err.textContent = "";
  const text = $("append-data").value;
  let body = text;
  if (state.stream.json) {
    try {
      body = JSON.stringify([JSON.parse(text)]); // one message, even when it is an array
    } catch (e) {
      err.textContent = `Not valid JSON: ${e.message}`;
      return;
    }
  } else if (text === "") {
    err.textContent = "Nothing to append.";
    return;
  }
  try {
    await api("POST", streamUrl(state.stream.path), {
      body, headers: { "content-type": state.stream.ct } });
    $("append-data").value = "";
    toast("Appended");
  } catch (e) {
    err.textContent = e.message;
  }
}

async function closeStream() {
  if (!await confirmDialog(`Close ${state.stream.path}? It will accept no more appends.`,
    "Close")) return;
  try {
    await api("POST", streamUrl(state.stream.path), { headers: { "stream-closed": "true" } });
    toast("Closed");
    await showStream(state.stream.path);
  } catch (e) { toast(e.message); }
}

async function deleteStream() {
  const path = state.stream.path;
  if (!await confirmDialog(`Delete ${path}? Its data is removed for good.`, "Delete")) return;
  try {
    await api("DELETE", streamUrl(path));
    toast(`Deleted ${path}`);
    location.hash = "#/streams";
  } catch (e) { toast(e.message); }
}

function forkStream() {
  const d = $("fork-dialog");
  $("fork-path").value = state.stream.path + "-fork";
  d.returnValue = "";
  d.showModal();
  d.addEventListener("close", async () => {
    if (d.returnValue !== "ok") return;
    const path = $("fork-path").value.trim().replace(/^\/+/, "");
    try {
      await api("PUT", streamUrl(path), { headers: {
        "content-type": state.stream.ct, "stream-forked-from": streamUrl(state.stream.path) } });
      toast(`Forked into ${path}`);
      location.hash = "#/stream/" + encodeURIComponent(path);
    } catch (e) { toast(e.message); }
  }, { once: true });
}

// ---- Subscriptions --------------------------------------------------------------------

async function loadSubscriptions() {
  const { subscriptions } = await (await api("GET", `${state.prefix}/__ds/subscriptions`)).json();
  const list = $("subs-list");
  list.replaceChildren();
  for (const s of subscriptions) {
    const badge = el("span", { className: "badge" + (s.status === "failed" ? " failed" : ""),
      textContent: s.status });
    const target = s.type === "webhook" ? `webhook → ${s.webhook && s.webhook.url}`
      : `pull-wake → ${s.wake_stream}`;
    const rows = s.streams.map((l) => el("tr", {},
      el("td", { className: "path" }, el("a", { href: "#/stream/" + encodeURIComponent(l.path),
        textContent: l.path })),
      el("td", { textContent: l.link_type }), el("td", { textContent: l.acked_offset }),
      el("td", { textContent: l.tail_offset || "–" }),
      el("td", { textContent: l.pending_bytes != null ? bytes(l.pending_bytes) : "–" })));
    const table = el("table", {},
      el("thead", {}, el("tr", {}, ...["Stream", "Link", "Cursor (acked)", "Tail", "Pending"]
        .map((h) => el("th", { textContent: h })))),
      el("tbody", {}, ...rows));
    list.append(el("div", { className: "card sub" },
      el("h2", {}, el("span", { textContent: s.id }), badge),
      el("p", { className: "hint", textContent:
        `${target}${s.pattern ? " · pattern " + s.pattern : ""} · lease ${s.lease_ttl_ms} ms` +
        (s.next_attempt_at ? ` · next attempt ${s.next_attempt_at}` : "") }),
      table));
  }
  $("subs-empty").hidden = subscriptions.length > 0;
}

// ---- Routing --------------------------------------------------------------------------

async function route() {
  stopTail();
  const hash = location.hash || "#/streams";
  for (const v of ["view-streams", "view-stream", "view-subs"]) $(v).hidden = true;
  $("nav-streams").classList.toggle("active", !hash.startsWith("#/subscriptions"));
  $("nav-subs").classList.toggle("active", hash.startsWith("#/subscriptions"));
  try {
    if (hash.startsWith("#/stream/")) {
      const path = decodeURIComponent(hash.slice("#/stream/".length));
      $("view-stream").hidden = false;
      $("live-log").replaceChildren();
      $("history-log").replaceChildren();
      state.historyAt = null;
      selectTab("live");
      await showStream(path);
      tail(path, "now");
    } else if (hash.startsWith("#/subscriptions")) {
      $("view-subs").hidden = false;
      await loadSubscriptions();
    } else {
      $("view-streams").hidden = false;
      await loadStreams(true);
    }
  } catch (e) {
    toast(e.status === 401 || e.status === 403 ? "Access denied: enter a token" : e.message);
  }
}

async function start() {
  try {
    const cfg = await (await fetch("config.json")).json();
    state.prefix = cfg.prefix;
  } catch (_) { /* keep the default prefix */ }
  $("token").value = token();
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem("durastream-token", $("token").value);
    route();
  });
  $("refresh").onclick = () => loadStreams(true).catch((e) => toast(e.message));
  $("filter").addEventListener("input", () => loadStreams(true).catch((e) => toast(e.message)));
  $("more").onclick = () => loadStreams(false).catch((e) => toast(e.message));
  $("show-create").onclick = () => { $("create-form").hidden = false; $("create-path").focus(); };
  $("create-cancel").onclick = () => { $("create-form").hidden = true; };
  $("create-form").addEventListener("submit", createStream);
  $("append-form").addEventListener("submit", append);
  $("close-stream").onclick = closeStream;
  $("delete-stream").onclick = deleteStream;
  $("fork-stream").onclick = forkStream;
  $("tab-live").onclick = () => selectTab("live");
  $("tab-history").onclick = () => selectTab("history");
  $("hist-first").onclick = () => { state.history = []; historyPage("-1").catch((e) => toast(e.message)); };
  $("hist-next").onclick = () => {
    state.history.push(state.historyAt.offset);
    historyPage(state.historyAt.next).catch((e) => toast(e.message));
  };
  $("hist-prev").onclick = () => {
    if (state.history.length) historyPage(state.history.pop()).catch((e) => toast(e.message));
  };
  $("subs-refresh").onclick = () => loadSubscriptions().catch((e) => toast(e.message));
  window.addEventListener("hashchange", route);
  route();
}

start();
