// The dashboard's only script: sortable and filterable tables, and live refresh.
// Live refresh polls /api/version; when it changes, the page is fetched again (rendered
// by the server from the same data as its JSON twin) and every element marked data-live
// is swapped in place, so numbers are formatted in one place and filters stay as typed.
(() => {
  "use strict";
  const POLL_MS = 1000;
  const sortState = new Map(); // table id -> {col, dir}

  const cellValue = (td) => {
    try { return JSON.parse(td.dataset.value ?? "null"); } catch { return td.textContent; }
  };

  function compare(a, b, dir) {
    if (a === null || a === undefined) return b === null || b === undefined ? 0 : 1; // blanks last
    if (b === null || b === undefined) return -1;
    if (typeof a === "number" && typeof b === "number") return dir * (a - b);
    return dir * String(a).localeCompare(String(b), undefined, { numeric: true });
  }

  function applyTable(table) {
    const body = table.tBodies[0];
    if (!body) return;
    const state = sortState.get(table.id);
    const rows = [...body.rows];
    if (state) {
      rows.sort((r1, r2) => compare(cellValue(r1.cells[state.col]), cellValue(r2.cells[state.col]), state.dir));
      rows.forEach((r) => body.appendChild(r));
      table.querySelectorAll("th").forEach((th) => {
        if (Number(th.dataset.col) === state.col) th.setAttribute("aria-sort", state.dir > 0 ? "ascending" : "descending");
        else th.removeAttribute("aria-sort");
      });
    }
    const input = document.querySelector(`input[data-filter="${table.id}"]`);
    const words = (input ? input.value : "").toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const r of rows) {
      const text = r.textContent.toLowerCase();
      const keep = words.every((w) => text.includes(w));
      r.hidden = !keep;
      shown += keep ? 1 : 0;
    }
    const counter = document.querySelector(`[data-shown="${table.id}"]`);
    if (counter) counter.textContent = String(shown);
  }

  function setup(root) {
    root.querySelectorAll("table.grid th[data-col]").forEach((th) => {
      th.addEventListener("click", () => {
        const table = th.closest("table");
        const col = Number(th.dataset.col);
        const old = sortState.get(table.id);
        // Numbers first sort largest first (what an analyst looks for); text A to Z.
        const first = th.dataset.type === "num" ? -1 : 1;
        sortState.set(table.id, { col, dir: old && old.col === col ? -old.dir : first });
        applyTable(table);
      });
    });
    root.querySelectorAll("input[data-filter]").forEach((input) => {
      input.addEventListener("input", () => {
        const table = document.getElementById(input.dataset.filter);
        if (table) applyTable(table);
      });
    });
  }

  const liveIds = (doc) => [...doc.querySelectorAll("[data-live]")].map((e) => e.id).join(",");

  async function refresh() {
    const response = await fetch(location.href, { headers: { Accept: "text/html" } });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    if (liveIds(fresh) !== liveIds(document)) {
      // The page changed shape (e.g. the first data arrived): take its whole body.
      const body = fresh.getElementById("page-body");
      document.getElementById("page-body").replaceWith(body);
      document.getElementById("live-status").replaceWith(fresh.getElementById("live-status"));
      setup(document.getElementById("page-body"));
    } else {
      for (const el of [...fresh.querySelectorAll("[data-live]")]) {
        document.getElementById(el.id).replaceWith(el);
      }
    }
    document.querySelectorAll("table.grid").forEach(applyTable);
  }

  async function poll() {
    try {
      const response = await fetch("/api/version", { cache: "no-store" });
      if (response.ok) {
        const { version } = await response.json();
        if (version !== document.getElementById("live-status").dataset.version) await refresh();
      }
    } catch (err) {
      // The server is restarting or gone: keep the page as it is and try again.
    }
    setTimeout(poll, POLL_MS);
  }

  setup(document);
  setTimeout(poll, POLL_MS);
})();
