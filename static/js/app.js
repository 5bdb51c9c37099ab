// Provisioner's only script: copy buttons, the "/" shortcut and the theme switch. The rest is htmx.
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
