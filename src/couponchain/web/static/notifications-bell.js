// The bell in the header (templates/nav.html): a merchant's unread notifications.
// On the notifications page they arrive live from the server-sent events stream,
// and the page (notifications.js) hears each new one as a "cc-notification" event
// on document, so one stream serves the bell and the page; on the other pages the
// count is refreshed every BELL_REFRESH_MS.
"use strict";

const BELL_REFRESH_MS = 30000;

// What a notification says, in the page's language.
function notificationText(item) {
  const d = item.data || {};
  const who = d.consumer_name || (d.consumer ? d.consumer.slice(0, 10) + "…" : "");
  switch (item.kind) {
    case "prize_awarded":
      return t("{who} won {prize} in {campaign}.", { who, prize: d.prize, campaign: d.campaign });
    case "prize_claimed":
      return t("{who} claimed {prize} from {campaign}.", { who, prize: d.prize, campaign: d.campaign });
    case "coupons_expiring":
      return t("{count} coupons of {title} expire on {date}.",
               { count: d.coupons, title: d.title, date: localTime(d.valid_until) });
    case "budget_low":
      return t("Your incentive budget is nearly spent: {left} of {cap} left.", {
        left: window.CouponChainMoney.formatAmount(d.left),
        cap: window.CouponChainMoney.formatAmount(d.cap) });
    case "report_ready":
      return t("Marketing report {id} is ready ({start} to {end}).", {
        id: d.report_id || d.chain_report_id, start: localTime(d.period_start),
        end: localTime(d.period_end) });
    default:
      return item.kind;
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  const bell = $("bell");
  if (!bell) return;
  const me = await whoAmI();
  if (!me || me.role !== "merchant") return;
  bell.hidden = false;
  const base = `/v1/merchants/${encodeURIComponent(me.id)}/notifications`;
  const count = $("bell-count");
  let unread = 0;
  const show = () => {
    count.hidden = unread === 0;
    count.textContent = unread > 99 ? "99+" : String(unread);
    bell.title = t("Notifications: {count} unread", { count: unread });
    bell.setAttribute("aria-label", bell.title);
    document.dispatchEvent(new CustomEvent("cc-notifications-count", { detail: { unread } }));
  };
  let after = 0;
  try {
    const newest = await api(base + "?limit=1");
    unread = newest.unread;
    if (newest.notifications.length) after = newest.notifications[0].id;
  } catch { return; }
  show();
  document.addEventListener("cc-notifications-read", (event) => { unread = event.detail.unread; show(); });
  if (!$("notes")) {
    // Elsewhere the count is refreshed now and then: a stream held open by every
    // console tab would cost the server a connection and a look each second per tab.
    const refresh = async () => {
      try { unread = (await api(base + "?limit=1")).unread; show(); } catch { /* next time */ }
      setTimeout(refresh, BELL_REFRESH_MS);
    };
    setTimeout(refresh, BELL_REFRESH_MS);
    return;
  }
  const tell = (name, detail) => document.dispatchEvent(new CustomEvent(name, { detail }));
  // The notifications page listens live. The stream resumes by itself after the
  // last id it delivered (Last-Event-ID).
  const source = new EventSource(`${base}/stream?after=${after}`);
  source.addEventListener("ready", () => tell("cc-notifications-live", { live: true }));
  source.addEventListener("notification", (event) => {
    const item = JSON.parse(event.data);
    if (!item.read) unread += 1;
    show();
    tell("cc-notification", item);
  });
  source.onerror = () => tell("cc-notifications-live", { live: false });
});
