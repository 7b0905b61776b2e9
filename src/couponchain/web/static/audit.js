// The audit log page: who did what, when, with the chain evidence; a merchant
// reads its own entries, the platform every one. The list (filters, paging,
// CSV) is the shared one of lists.js.
"use strict";

function auditRow(entry) {
  const row = document.createElement("tr");
  row.dataset.id = entry.id;
  listCell(row, localTime(entry.at));
  listCell(row, `${entry.participant_id} (${roleName(entry.role)})`);
  listCell(row, `${entry.credential_kind === "session" ? t("page session") : t("API key")} ` +
                entry.credential_id);
  listCell(row, `${entry.operation} · ${entry.method} ${entry.path}`, "operation");
  listCell(row, entry.status < 400 ? t("done") : t("refused ({status})", { status: entry.status }));
  const evidence = listCell(row, "", "evidence");
  if (entry.tx_hash) {
    const link = document.createElement("span");
    link.className = "tx";
    link.textContent = t("block {block}", { block: entry.block_number });
    evidence.append(link, auditDetails(entry.tx_hash, t("transaction")));
  }
  if (entry.op_key) evidence.append(auditDetails(entry.op_key, t("operation key")));
  return row;
}

document.addEventListener("DOMContentLoaded", async () => {
  if (!$("audit")) return;
  const me = await whoAmI();
  if (!me || !["merchant", "platform"].includes(me.role)) {
    $("audit-signin").hidden = false;
    return;
  }
  $("audit").hidden = false;
  $("audit-scope").textContent = me.role === "platform"
    ? t("Every merchant's and the platform's writes.")
    : t("Writes by you and your terminals.");
  makeList({ id: "audit", url: () => "/v1/audit-log", rows: "entries", render: auditRow }).reload();
});
