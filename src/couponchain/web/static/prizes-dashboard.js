// A prize campaign's live dashboard (/prizes/{id}): claims by terminal and per
// minute as charts (charts.js), stock per prize, pushed by the server-sent events
// of /v1/prize-campaigns/{id}/live. EventSource cannot send the Authorization
// header the API needs, so the stream is read with fetch() and parsed here.
"use strict";

(() => {
const { show, problemText, cell, signedIn, when } = window.CouponChainPromotions;
const MINUTES = 30;
const dash = { id: null, retryMs: 3000, stopped: false, updates: 0, claimsSeen: null,
               claims: null };

function live(text, ok) {
  $("dash-live").textContent = text;
  $("dash-live").classList.toggle("status-distributed", Boolean(ok));
}

function render(s) {
  dash.updates += 1;
  $("dash").dataset.updates = String(dash.updates);
  $("dash-title").textContent = `#${s.campaign_id} ${s.title}`;
  $("dash-claimed").textContent = String(s.claimed);
  $("dash-awarded").textContent = String(s.awarded);
  $("dash-pending").textContent = String(s.pending_claims);
  $("dash-offline").textContent = String(s.offline_claims);
  const seen = `${s.claimed}/${s.pending_claims}/${s.offline_claims}`;
  if (seen !== dash.claimsSeen) {
    dash.claimsSeen = seen;
    // The claims list follows the live counts, unless the reader paged on in it.
    if (dash.claims && !dash.claims.pagedOn()) dash.claims.reload();
  }
  const terminals = s.claims_by_terminal;
  CouponChainCharts.categories($("terminal-chart"), {
    integer: true, labels: terminals.map((x) => x.terminal_name || x.terminal_id
                                              || x.terminal.slice(0, 8)),
    series: [{ label: t("claims"), values: terminals.map((x) => x.claims) }] });
  $("terminal-note").textContent = terminals.length
    ? terminals.map((x) => `${x.terminal_name || x.terminal}: ${x.claims}`).join(" · ")
    : t("No claims yet.");
  const step = s.minute_seconds * 1000;
  const now = Math.floor(Date.parse(s.generated_at) / step) * step;
  const per = new Map(s.claims_per_minute.map((p) => [Date.parse(p.at), p.claims]));
  const values = [], times = [];
  for (let i = MINUTES - 1; i >= 0; i--) {
    const at = now - i * step;
    values.push(per.get(at) || 0);
    times.push(at / 1000);
  }
  CouponChainCharts.time($("minute-chart"), {
    integer: true, x: times, series: [{ label: t("claims per minute"), values }] });
  const recent = values.reduce((a, b) => a + b, 0);
  const params = { count: recent, minutes: MINUTES, when: when(s.generated_at) };
  $("minute-note").textContent = recent === 1
    ? t("{count} claim in the last {minutes} minutes; updated {when}.", params)
    : t("{count} claims in the last {minutes} minutes; updated {when}.", params);
  const body = $("stock-rows");
  body.replaceChildren();
  for (const p of s.stock) {
    const row = document.createElement("tr");
    row.dataset.index = p.index;
    cell(row, p.name);
    cell(row, p.quantity, "amount");
    cell(row, p.awarded, "amount");
    cell(row, p.claimed, "amount");
    cell(row, p.left, "amount");
    body.appendChild(row);
  }
}

// A claim row (lists.js pages, filters and exports them), offline ones marked
// with the terminal's own scan time.
function claimRow(c) {
  const row = document.createElement("tr");
  row.dataset.id = c.id;
  row.dataset.source = c.source;
  cell(row, when(c.claimed_at));
  cell(row, c.prize_name);
  cell(row, c.terminal_name || c.terminal_id);
  const how = cell(row, "");
  const pill = document.createElement("span");
  pill.className = c.source === "offline" ? "pill offline" : "pill";
  pill.textContent = c.source === "offline" ? t("offline scan") : t("online scan");
  how.appendChild(pill);
  if (c.scanned_offline_at) {
    how.append(" " + t("scanned {when} (terminal's clock)", { when: when(c.scanned_offline_at) }));
  }
  cell(row, c.status === "recorded" ? t("recorded") : c.status === "pending"
    ? t("pending") : t("refused"));
  return row;
}

function handle(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;  // heartbeat
    const [field, ...rest] = line.split(":");
    const value = rest.join(":").replace(/^ /, "");
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
    else if (field === "retry" && /^\d+$/.test(value)) dash.retryMs = Number(value);
  }
  if (event === "stats" && data.length) {
    render(JSON.parse(data.join("\n")));
    live(t("live"), true);
  } else if (event === "end") {
    live(t("server stopping — reconnecting"));
  }
}

// Read the stream until it ends, then reconnect after the server's retry delay.
async function follow() {
  const url = `/v1/prize-campaigns/${dash.id}/live`;
  while (!dash.stopped) {
    try {
      const response = await fetch(url, { credentials: "same-origin",
                                          headers: { accept: "text/event-stream" } });
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        show($("dash-result"), t("Not watching: {error}",
                                 { error: body.detail || response.statusText }), true);
        live(t("stopped"));
        if (response.status < 500) return;
      } else {
        $("dash-result").hidden = true;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n?/g, "\n");
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            handle(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
        }
      }
    } catch (error) {
      show($("dash-result"), t("Connection lost: {error}", { error: problemText(error) }), true);
    }
    live(t("reconnecting…"));
    await new Promise((ok) => setTimeout(ok, dash.retryMs));
  }
}

async function startDashboard() {
  const me = await signedIn("dash", ["merchant", "platform"], t("the campaign's merchant"));
  if (!me) return;
  dash.id = $("dash").dataset.campaign;
  dash.claims = makeList({ id: "claims", url: () => `/v1/prize-campaigns/${dash.id}/claims`,
                           rows: "claims", render: claimRow });
  api("/v1/prize-campaigns/" + dash.id).then((c) => {
    const terminals = c.all_terminals ? t("all terminals")
      : c.terminals.map((x) => x.name || x.address).join(", ");
    $("dash-window").textContent = t("Claims {start} – {end}, {limit} per consumer, {terminals}",
      { start: when(c.starts_at), end: when(c.ends_at), limit: c.per_consumer_limit, terminals });
  }).catch((e) => show($("dash-result"), problemText(e), true));
  follow();
}

document.addEventListener("DOMContentLoaded", () => {
  if ($("dash")) startDashboard();
});
})();
