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
