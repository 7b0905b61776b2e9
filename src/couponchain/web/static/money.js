// Money on the pages: amounts of the credit token shown and typed in its display
// unit ("88.000000 CCC"), sent to the API as integers of its smallest unit. The
// token's symbol and decimals come from the page (base.html renders them from the
// token contract's constants, see web/money.py): the same rules as the server's
// format_amount and parse_amount. BigInt keeps every amount exact. Loaded by every
// page before app.js and the page's own scripts.
"use strict";

window.CouponChainMoney = (() => {
  const TOKEN = (() => {
    try { return JSON.parse(document.getElementById("token").textContent); }
    catch { return { symbol: "CCC", decimals: 6 }; } // the contract's values, as a fallback
  })();
  const UNIT = 10n ** BigInt(TOKEN.decimals);

  // "88.000000 CCC" from 88000000 (a number, a BigInt or a decimal string); "" for none.
  function formatAmount(units, withSymbol = true) {
    if (units === null || units === undefined || units === "") return "";
    const n = BigInt(units), a = n < 0n ? -n : n;
    const fraction = TOKEN.decimals ? "." + String(a % UNIT).padStart(TOKEN.decimals, "0") : "";
    const text = `${n < 0n ? "-" : ""}${a / UNIT}${fraction}`;
    return withSymbol ? `${text} ${TOKEN.symbol}` : text;
  }

  function fieldError(field, message) {
    const error = new Error(message);
    error.problem = { field, detail: message };
    return error;
  }

  // The smallest unit (a BigInt) of text typed in the display unit: "12.5" -> 12500000n.
  // Refuses, naming the field (`label` as the person reads it, `field` as the API
  // names it): a negative amount, text that is not a number, too many decimals.
  function parseAmount(text, field, label) {
    const name = label || field;
    const cleaned = String(text).trim().replace(new RegExp(TOKEN.symbol + "$"), "").trim()
      .replace(/,/g, "");
    if (cleaned.startsWith("-")) throw fieldError(field, t("{field} must not be negative", { field: name }));
    if (!/^\d+(\.\d*)?$|^\.\d+$/.test(cleaned)) {
      throw fieldError(field, t("{field} must be a number such as 12.50", { field: name }));
    }
    const [whole, rawFraction = ""] = cleaned.split(".");
    const fraction = rawFraction.replace(/0+$/, "");
    if (fraction.length > TOKEN.decimals) {
      throw fieldError(field, t("{field} has more than {decimals} decimals",
                                { field: name, decimals: TOKEN.decimals }));
    }
    return BigInt(whole || "0") * UNIT + BigInt(fraction.padEnd(TOKEN.decimals, "0") || "0");
  }

  // An amount input's value from a smallest-unit amount ("" for none): for prefilled forms.
  function inputValue(units) {
    return units === null || units === undefined ? "" : formatAmount(units, false);
  }

  // JSON with BigInt amounts written as plain integers (JSON.stringify refuses BigInts, and
  // Number() would round amounts above 2**53).
  function json(body) {
    return JSON.stringify(body, (_k, v) => (typeof v === "bigint" ? "bigint:" + v : v))
      .replace(/"bigint:(-?\d+)"/g, "$1");
  }

  return { TOKEN, formatAmount, parseAmount, inputValue, fieldError, json };
})();
