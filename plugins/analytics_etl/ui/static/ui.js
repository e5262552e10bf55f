// The UI frames these pages in a sandbox without allow-top-navigation, so a link to a run page
// would open the whole Airflow UI inside the frame. Links marked data-top instead navigate the UI
// itself through its router (same origin: push the URL, then tell the router with popstate).
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-top]");
  if (!link || window.top === window) return;
  const url = new URL(link.getAttribute("href"), document.baseURI);
  try {
    window.top.history.pushState(null, "", url.pathname + url.search + url.hash);
    window.top.dispatchEvent(new PopStateEvent("popstate", { state: null }));
    event.preventDefault();
  } catch (err) {
    // Not the UI's origin: let the link open here.
  }
});

// Chart tooltips. Each point's <title> is the browser's own tooltip, which needs no script but comes
// late and small; here it becomes a label shown at once beside the point, on hover and on keyboard
// focus. textContent in, textContent out: the text stays text.
const tip = document.createElement("div");
tip.className = "tip";
tip.setAttribute("role", "tooltip");
tip.hidden = true;

function tipHost(target) {
  return target instanceof Element ? target.closest("svg.chart [data-tip]") : null;
}

function showTip(host) {
  tip.textContent = host.getAttribute("data-tip");
  tip.hidden = false;
  const box = host.getBoundingClientRect();
  const left = Math.min(box.left + box.width / 2 + window.scrollX + 8,
                        window.scrollX + document.documentElement.clientWidth - tip.offsetWidth - 4);
  tip.style.left = `${Math.max(window.scrollX + 4, left)}px`;
  tip.style.top = `${box.top + window.scrollY - tip.offsetHeight - 6}px`;
}

document.addEventListener("DOMContentLoaded", () => {
  document.body.append(tip);
  for (const title of document.querySelectorAll("svg.chart title")) {
    const host = title.parentElement.closest("a") || title.parentElement;
    host.setAttribute("data-tip", title.textContent);
    host.setAttribute("aria-label", title.textContent);
    title.remove();  // or the browser shows its own tooltip too, a second later
  }
});
for (const kind of ["mouseover", "focusin"]) {
  document.addEventListener(kind, (event) => {
    const host = tipHost(event.target);
    if (host) showTip(host);
  });
}
for (const kind of ["mouseout", "focusout"]) {
  document.addEventListener(kind, (event) => {
    if (tipHost(event.target)) tip.hidden = true;
  });
}
