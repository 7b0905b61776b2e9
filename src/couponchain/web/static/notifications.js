// The notifications page: the merchant's notifications, newest first, with new ones
// arriving live (through the bell's stream, notifications-bell.js), marking them
// read, and the switches for each kind.
"use strict";

document.addEventListener("DOMContentLoaded", async () => {
  if (!$("notes")) return;
  const shown = new Set();
  let cursor = null;
  const list = $("notes-list");

  function entry(item, fresh) {
    if (shown.has(item.id)) return null;
    shown.add(item.id);
    const li = document.createElement("li");
    li.dataset.id = item.id;
    li.dataset.kind = item.kind;
    li.className = (item.read ? "" : "unread") + (fresh ? " fresh" : "");
    const when = document.createElement("span");
    when.className = "when";
    when.textContent = localTime(item.created_at);
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = notificationText(item);
    li.append(text, when);
    if (item.kind === "report_ready") {
      const link = document.createElement("a");
      link.href = "/inbox";
      link.textContent = t("Open the inbox");
      li.append(link);
    }
    return li;
  }

  // Registered before anything is awaited: the bell's stream opens after this.
  document.addEventListener("cc-notification", (event) => {
    const li = entry(event.detail, true);
    if (li) list.prepend(li);
    $("notes-empty").hidden = true;
  });
  // The bell keeps the unread count (the stream's new ones included).
  document.addEventListener("cc-notifications-count", (event) => {
    $("notes-unread").textContent = t("{count} unread", { count: event.detail.unread });
  });
  document.addEventListener("cc-notifications-live", (event) => {
    $("notes-live").dataset.state = event.detail.live ? "live" : "connecting";
    $("notes-live-text").textContent = event.detail.live ? t("Live: new notifications appear here.")
      : t("Reconnecting…");
  });

  const me = await whoAmI();
  if (!me || me.role !== "merchant") {
    $("notes-signin").hidden = false;
    return;
  }
  $("notes").hidden = false;
  const base = `/v1/merchants/${encodeURIComponent(me.id)}`;

  function showUnread(unread) {
    document.dispatchEvent(new CustomEvent("cc-notifications-read", { detail: { unread } }));
  }

  async function more() {
    const page = await api(`${base}/notifications?limit=50` +
                           (cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""));
    for (const item of page.notifications) {
      const li = entry(item, false);
      if (li) list.append(li);
    }
    cursor = page.next_cursor;
    $("notes-more").hidden = !cursor;
    $("notes-empty").hidden = shown.size > 0;
  }
  $("notes-more").onclick = more;
  $("notes-read-all").onclick = async () => {
    const done = await api(`${base}/notifications:read`, { method: "POST", body: "{}" });
    for (const li of list.querySelectorAll("li.unread")) li.classList.remove("unread");
    showUnread(done.unread);
  };

  const form = $("notes-settings");
  const settings = await api(`${base}/notification-settings`);
  for (const [kind, on] of Object.entries(settings.kinds)) form.elements[kind].checked = on;
  form.onsubmit = async (event) => {
    event.preventDefault();
    const kinds = {};
    for (const kind of Object.keys(settings.kinds)) kinds[kind] = form.elements[kind].checked;
    try {
      await api(`${base}/notification-settings`, { method: "PUT", body: JSON.stringify({ kinds }) });
      $("notes-settings-result").textContent = t("Saved.");
    } catch (error) {
      $("notes-settings-result").textContent = error.message;
    }
  };
  await more();
});
