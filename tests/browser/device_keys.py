"""A device key's secret read back from a page, for tests that check it never leaves
the browser (static/device-key.js keeps it encrypted in localStorage)."""

from __future__ import annotations

from playwright.async_api import Page

PASSPHRASE = "correct horse battery"


async def device_private_key(page: Page, passphrase: str = PASSPHRASE) -> str:
    """The page's device key (lower-case hex, no 0x), decrypted from the stored backup
    with the passphrase, as the page does."""
    return str(await page.evaluate("""async (pass) => {
      const s = JSON.parse(localStorage.getItem("couponchain.device-key"));
      const b = (t) => Uint8Array.from(atob(t), (c) => c.charCodeAt(0));
      const m = await crypto.subtle.importKey("raw", new TextEncoder().encode(pass), "PBKDF2",
                                              false, ["deriveKey"]);
      const k = await crypto.subtle.deriveKey({ name: "PBKDF2", hash: "SHA-256",
        salt: b(s.salt), iterations: s.iterations }, m, { name: "AES-GCM", length: 256 },
        false, ["decrypt"]);
      const plain = new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: b(s.iv),
        additionalData: new TextEncoder().encode(s.address) }, k, b(s.ciphertext)));
      return Array.from(plain, (x) => x.toString(16).padStart(2, "0")).join("");
    }""", passphrase))
