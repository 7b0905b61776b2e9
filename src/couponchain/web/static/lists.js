// The shared list behaviour (issue 25) for the controls of templates/lists.html:
// the filters become the API's list parameters (q, status, from, to), "Next page"
// follows next_cursor, and "Export CSV" is a link to the same list with
// format=csv, so the file holds exactly the rows the filters select. Uses api(),
// $() and t() from app.js. A page makes one list per table:
//   const sales = makeList({ id: "sales", url: () => "/v1/editions/3/coupons",
//                            rows: "coupons", render: (row) => <tr> });
//   sales.reload();
"use strict";

const LIST_PAGE = 25;

// A local calendar day as the UTC instant it starts (or, for `to`, the last second
// of it), so "to 7 Dec" means the reader's whole 7 December.
function dayBound(value, end) {
  if (!value) return "";
  const [y, m, d] = value.split("-").map(Number);
  const at = end ? new Date(y, m - 1, d + 1, 0, 0, -1) : new Date(y, m - 1, d);
  return at.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function listParams(form) {
  const params = new URLSearchParams();
  const q = form.elements.q.value.trim();
  if (q) params.set("q", q);
  if (form.elements.status && form.elements.status.value) {
    params.set("status", form.elements.status.value);
  }
  const from = dayBound(form.elements.from.value, false);
  const to = dayBound(form.elements.to.value, true);
  if (from) params.set("from", from);
  if (to) params.set("to", to);
  return params;
}

function withParams(url, params) {
  const text = params.toString();
  return text ? url + (url.includes("?") ? "&" : "?") + text : url;
}

function makeList({ id, url, rows, render, pageSize = LIST_PAGE }) {
  const form = $(id + "-filters");
  const body = $(id + "-rows");
  const next = $(id + "-next");
  const count = $(id + "-count");
  const error = $(id + "-error");
  const exportLink = $(id + "-export");
  const state = { cursor: null, shown: 0, busy: false, pages: 0 };

  function exportHref() {
    const params = listParams(form);
    params.set("format", "csv");
    exportLink.href = withParams(url(), params);
  }

  async function load(append) {
    if (state.busy) return;
    state.busy = true;
    const params = listParams(form);
    params.set("limit", String(pageSize));
    if (append && state.cursor !== null) params.set("cursor", String(state.cursor));
    try {
      const page = await api(withParams(url(), params));
      if (!append) {
        body.replaceChildren();
        state.shown = 0;
        state.pages = 0;
      }
      state.pages += 1;
      for (const row of page[rows]) body.appendChild(render(row));
      state.shown += page[rows].length;
      state.cursor = page.next_cursor;
      next.hidden = page.next_cursor === null || page.next_cursor === undefined;
      count.textContent = state.shown
        ? t("{count} shown", { count: state.shown }) + (next.hidden ? "" : " · " + t("more on the next page"))
        : t("Nothing matches these filters.");
      error.hidden = true;
    } catch (failure) {
      const field = failure.problem && failure.problem.field;
      error.hidden = false;
      error.textContent = field ? `${field}: ${failure.message}` : failure.message;
    } finally {
      state.busy = false;
      exportHref();
    }
  }

  form.onsubmit = (event) => {
    event.preventDefault();
    load(false);
  };
  for (const input of form.querySelectorAll("select, input[type=date]")) {
    input.onchange = () => load(false);
  }
  next.onclick = () => load(true);
  // pagedOn: the reader asked for a next page (a live page then leaves the list be).
  return { reload: () => load(false), pagedOn: () => state.pages > 1 };
}

// A table cell holding `value` (a string or a node).
function listCell(row, value, className) {
  const td = document.createElement("td");
  if (value instanceof Node) td.appendChild(value);
  else td.textContent = value === null || value === undefined ? "" : String(value);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}
