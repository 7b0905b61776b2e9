// The device key page (/keys/device): create, back up, restore and register the
// consumer's own key. The key itself is device-key.js's (loaded before this
// module); this page shows its address and the account's custody.
const dk = window.deviceKey;

function say(text, isError = false) {
  const box = $("dk-result");
  box.textContent = text;
  box.classList.toggle("error", isError);
  box.hidden = false;
}

async function refresh() {
  const me = await whoAmI();
  const here = dk.address();
  $("dk-address").textContent = here || t("none yet");
  $("dk-create-section").hidden = Boolean(here);
  $("dk-backup-section").hidden = !here;
  if (!me) {
    $("dk-custody").textContent = t("sign in to see it");
  } else {
    showCustody($("dk-custody"), me);
  }
  $("dk-register-section").hidden = !(me && me.role === "consumer" && me.custody !== "own" && here);
  const sends = Boolean(me && me.custody === "own" && here === me.address);
  $("dk-credit-section").hidden = !sends;
  if (sends) {
    const mine = await api("/v1/payouts/me").catch(() => null);
    $("dk-balance").textContent = mine
      ? window.CouponChainMoney.formatAmount(mine.token_balance) : "?";
  }
}

$("dk-credit-form").onsubmit = async (event) => {
  event.preventDefault();
  const to = $("dk-credit-to").value.trim();
  try {
    const amount = window.CouponChainMoney.parseAmount($("dk-credit-amount").value, "amount",
                                                       t("Amount"));
    say(t("Sending credit on chain…"));
    const done = await dk.sendCredit(to, amount, crypto.randomUUID());
    say(t("Sent {amount} to {to} (block {block}).", {
      amount: window.CouponChainMoney.formatAmount(done.amount), to: done.to,
      block: done.block_number }));
    $("dk-credit-form").reset();
  } catch (error) {
    say(t("Not sent: {error}", { error: error.message }), true);
  }
  await refresh();
};

$("dk-create-form").onsubmit = async (event) => {
  event.preventDefault();
  if ($("dk-passphrase").value !== $("dk-passphrase-again").value) {
    say(t("the two passphrases differ"), true);
    return;
  }
  try {
    const made = await dk.create($("dk-passphrase").value);
    say(t("Key created on this device: {address}. Back it up now.", { address: made }));
  } catch (error) {
    say(t("No key created: {error}", { error: error.message }), true);
  }
  await refresh();
};

$("dk-register").onclick = async () => {
  say(t("Registering your address on chain…"));
  try {
    const done = await dk.register();
    say(t("Your account now signs with this key: {address} (block {block}).",
          { address: done.address, block: done.block_number }));
  } catch (error) {
    say(t("Not switched: {error}", { error: error.message }), true);
  }
  await refresh();
};

$("dk-export").onclick = () => {
  const text = dk.exportBackup();
  $("dk-backup").value = text;
  $("dk-backup").hidden = false;
  const link = $("dk-download");
  link.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  link.hidden = false;
};

$("dk-import-form").onsubmit = async (event) => {
  event.preventDefault();
  try {
    const restored = await dk.importBackup($("dk-import-text").value,
                                           $("dk-import-passphrase").value);
    say(t("Key restored on this device: {address}.", { address: restored }));
  } catch (error) {
    say(t("Not restored: {error}", { error: error.message }), true);
  }
  await refresh();
};

refresh();
