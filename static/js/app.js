// Provisioner's only script: copy buttons, the "/" shortcut, the theme switch, the device
// builder's busy Send and curl panel, and the Devices page's "tick every row". The rest is htmx.
"use strict";
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.querySelector(`[data-copy-source="${button.dataset.copy}"]`);
  if (!source) return;
  const text = "value" in source ? source.value : source.textContent;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    if (source.select) { source.select(); document.execCommand("copy"); }
  }
  const label = button.textContent;
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = label; }, 1500);
});

// "/" focuses the page's search field (history), unless the user is typing somewhere.
document.addEventListener("keydown", (event) => {
  if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
  const active = document.activeElement;
  if (active && (active.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(active.tagName))) return;
  const search = document.querySelector("input[type=search]");
  if (!search) return;
  event.preventDefault();
  search.focus();
  search.select();
});

// The theme control in the header posts with htmx; the server answers 204 with a "theme-changed"
// event, and the page switches in place (without JavaScript the form posts and reloads).
const THEMES = ["system", "light", "dark"];
document.addEventListener("theme-changed", (event) => {
  const theme = event.detail && event.detail.theme;
  if (!THEMES.includes(theme)) return;
  const root = document.documentElement;
  if (theme === "system") delete root.dataset.theme;
  else root.dataset.theme = theme;
  const meta = document.querySelector('meta[name="color-scheme"]');
  if (meta) meta.content = theme === "system" ? "light dark" : theme;
  for (const button of document.querySelectorAll(".theme-switch button[name=theme]")) {
    button.setAttribute("aria-pressed", String(button.value === theme));
  }
});

// The device builder's Send: from the first click the button says "Sending…" and takes no
// second click (disabled once the browser has read the form, so its action=send is posted).
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  if (!button || !button.dataset.busyLabel || event.defaultPrevented) return;
  button.dataset.idleLabel = button.textContent;
  button.textContent = button.dataset.busyLabel;
  button.setAttribute("aria-busy", "true");
  setTimeout(() => { button.disabled = true; });
  // While the answer is awaited, say what the Send waits for (a provider's Retry-After).
  const status = document.getElementById("send-status");
  const url = button.dataset.progressUrl;
  if (!status || !url) return;
  status.textContent = "Sending…";
  setInterval(async () => {
    try {
      const response = await fetch(url, { headers: { Accept: "text/plain" } });
      const text = response.ok ? (await response.text()).trim() : "";
      if (text) status.textContent = text;
    } catch {
      // The page is being replaced by the answer.
    }
  }, 1000);
});

// The preview is replaced on every change; its "As curl" panel stays open or closed as the
// operator left it.
let curlOpen = false;
document.addEventListener("toggle", (event) => {
  if (event.target.matches && event.target.matches("#device-preview details")) curlOpen = event.target.open;
}, true);
document.addEventListener("htmx:afterSwap", () => {
  const panel = document.querySelector("#device-preview details");
  if (panel) panel.open = curlOpen;
});

// Back to a page kept by the browser: its Send is ready again.
window.addEventListener("pageshow", (event) => {
  if (!event.persisted) return;
  for (const button of document.querySelectorAll("button[data-busy-label][aria-busy=true]")) {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = button.dataset.idleLabel || button.textContent;
  }
});

// The Devices page: a box in the list's head ticks (or unticks) every row of the page. Without
// a script it stays hidden ("All that match" is there for the whole list).
function revealTickAll() {
  for (const box of document.querySelectorAll("input[data-tick-all]")) box.hidden = false;
}
document.addEventListener("DOMContentLoaded", revealTickAll);
document.addEventListener("htmx:afterSwap", revealTickAll);
document.addEventListener("change", (event) => {
  const all = event.target.closest && event.target.closest("input[data-tick-all]");
  if (!all || !all.form) return;
  for (const box of all.form.querySelectorAll(`input[type=checkbox][name="${all.dataset.tickAll}"]`)) {
    box.checked = all.checked;
  }
});
