// The consumer's prizes (/my-prizes): awards, and for an unclaimed one a
// rotating QR code that is fetched again before it expires. While the page is
// not visible (another tab, phone locked) no code is fetched and the QR is
// blanked, so nothing valid sits on a screen nobody looks at.
"use strict";

(() => {
const { REFRESH_MS, show, problemText, button, when, signedIn,
        word } = window.CouponChainPromotions;
const mine = { me: null, awards: [], current: null, refresh: null, countdown: null,
               listed: "", fetching: 0 };

function clearCode() {
  clearTimeout(mine.refresh);
  clearInterval(mine.countdown);
  mine.refresh = mine.countdown = null;
  mine.fetching += 1;  // a reply still on its way is ignored
  $("prize-qr").removeAttribute("src");
  $("prize-code").textContent = "";
  $("code-countdown").textContent = "";
}

function stopCode() {
  clearCode();
  mine.current = null;
  $("code-section").hidden = true;
  document.querySelectorAll("#awards li").forEach((li) => li.classList.remove("current"));
}

function tick(expiry, refreshAt) {
  const now = Date.now() / 1000;
  const left = Math.max(0, Math.ceil(refreshAt - now));
  $("code-countdown").textContent = `${left} s`;
  $("code-countdown").dataset.expiry = String(expiry);
  if (now >= expiry) $("prize-qr").classList.add("expired");
}

// Fetch a fresh code for the current award and schedule the next one.
async function showCode() {
  const award = mine.current;
  if (!award || document.visibilityState === "hidden") return;
  clearCode();
  const ticket = mine.fetching;
  try {
    const c = await api(`/v1/prize-awards/${award.id}/code`);
    if (ticket !== mine.fetching || document.visibilityState === "hidden") return;
    // The server's clock decides expiry; refresh on ours at its hint, before expiry.
    const refreshAt = Date.now() / 1000 + c.refresh_in_seconds;
    $("prize-qr").src = c.qr_svg;
    $("prize-qr").classList.remove("expired");
    $("prize-code").textContent = c.code;
    $("prize-qr").dataset.nonce = c.nonce;
    $("code-section").hidden = false;
    $("mine-result").hidden = true;
    tick(c.expiry, refreshAt);
    mine.countdown = setInterval(() => tick(c.expiry, refreshAt), 500);
    mine.refresh = setTimeout(showCode, c.refresh_in_seconds * 1000);
  } catch (error) {
    if (ticket !== mine.fetching) return;
    stopCode();
    show($("mine-result"), t("No code: {error}", { error: problemText(error) }), !error.problem ||
         !/claimed/.test(error.message));
    refreshAwards().catch(() => {});
  }
}

function choose(award) {
  mine.current = award;
  $("code-prize").textContent = award.prize_name || t("prize {index}", { index: award.prize_index });
  $("code-campaign").textContent = award.campaign_title ||
    t("campaign #{id}", { id: award.campaign_id });
  document.querySelectorAll("#awards li").forEach((li) =>
    li.classList.toggle("current", li.dataset.id === String(award.id)));
  showCode();
  $("code-section").scrollIntoView({ block: "start" });
}

function describe(a) {
  if (a.status === "claimed") return t("claimed {when}", { when: when(a.claimed_at) });
  if (a.status === "revoked") {  // the merchant's reason, kept off chain
    return a.revoked_reason ? t("revoked: {reason}", { reason: a.revoked_reason }) : t("revoked");
  }
  return t("to collect until {when}", { when: when(a.claim_ends_at) });
}

function renderAwards(awards) {
  const list = $("awards");
  list.replaceChildren();
  $("awards-empty").hidden = awards.length > 0;
  for (const a of awards) {
    const item = document.createElement("li");
    item.dataset.id = a.id;
    item.dataset.status = a.status;
    const title = document.createElement("strong");
    title.textContent = a.prize_name || t("prize {index}", { index: a.prize_index });
    const pill = document.createElement("span");
    pill.className = "pill status-" + (a.status === "claimed" ? "distributed" : a.status);
    pill.textContent = word(a.status);
    const text = document.createElement("p");
    text.append(title, ` — ${a.campaign_title || t("campaign #{id}", { id: a.campaign_id })} `,
                pill, document.createElement("br"),
                t("Award #{id}, {state}", { id: a.id, state: describe(a) }));
    item.appendChild(text);
    if (a.status === "awarded") {
      item.appendChild(button(t("Show code"), () => choose(a)));
    }
    if (mine.current && mine.current.id === a.id) item.classList.add("current");
    list.appendChild(item);
  }
}

async function refreshAwards() {
  const page = await api("/v1/prize-awards?limit=500&consumer=" +
                         encodeURIComponent(mine.me.id));
  const awards = page.awards.slice().reverse();  // newest first
  const listed = JSON.stringify(awards.map((a) => [a.id, a.status]));
  if (listed !== mine.listed) {
    mine.listed = listed;
    mine.awards = awards;
    renderAwards(awards);
  }
  const open = awards.filter((a) => a.status === "awarded");
  if (mine.current && !open.some((a) => a.id === mine.current.id)) {
    const done = awards.find((a) => a.id === mine.current.id);
    stopCode();
    if (done && done.status === "claimed") {
      show($("mine-result"), t("Enjoy your {prize}! Claimed {when}.",
                               { prize: done.prize_name, when: when(done.claimed_at) }));
    }
  }
  if (!mine.current && open.length && !mine.shownOnce) {
    mine.shownOnce = true;  // the newest unclaimed prize is shown right away
    choose(open[0]);
  }
}

function onVisibility() {
  if (document.visibilityState === "hidden") {
    clearCode();
    $("code-section").hidden = true;
  } else if (mine.current) {
    showCode();
  }
}

async function startMine() {
  const me = await signedIn("mine", ["consumer"], t("consumers"));
  if (!me) return;
  mine.me = me;
  document.addEventListener("visibilitychange", onVisibility);
  const loop = async () => {
    try {
      if (document.visibilityState !== "hidden") await refreshAwards();
    } catch (error) {
      show($("mine-result"), t("Prizes: {error}", { error: problemText(error) }), true);
    }
    setTimeout(loop, REFRESH_MS);
  };
  loop();
}

document.addEventListener("DOMContentLoaded", () => {
  if ($("mine")) startMine();
});
})();
