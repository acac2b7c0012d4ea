/**
 * The dashboard's stylesheet and script, embedded as strings so the compiled binary serves them with
 * no files beside it and no network (no CDN, no web fonts). The script only adds live updates:
 * every page works without it.
 *
 * Live updates: the page holds one EventSource on /events; each message (the server sends one, at
 * most a few times a second, when the store reports a change) schedules a re-fetch of the page's
 * own URL with `X-Reflow-Fragment: 1`, debounced, and swaps the `#live` region's content, keeping
 * which <details> the reader had opened or closed. Opening the stream (and every reconnect) also
 * re-fetches once: a change committed after the page was rendered but before the stream was open
 * is announced to no one. The browser never polls.
 */

export const APP_CSS = `
:root {
  --fg: #1f2328; --muted: #656d76; --line: #d8dee4; --bg: #ffffff; --soft: #f6f8fa; --accent: #0969da;
  --pending: #9a6700; --running: #0969da; --waiting: #8250df; --completed: #1a7f37; --failed: #cf222e; --cancelled: #6e7781;
  --mono: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "Liberation Mono", monospace;
}
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--fg); background: var(--bg); }
header.top { display: flex; align-items: center; gap: 24px; padding: 10px 24px; border-bottom: 1px solid var(--line);
  background: var(--soft); }
header.top .brand { font-weight: 600; color: var(--fg); text-decoration: none; }
header.top nav { display: flex; gap: 16px; }
header.top nav a { color: var(--muted); text-decoration: none; }
header.top nav a.here { color: var(--fg); font-weight: 600; }
header.top .live-state { margin-left: auto; color: var(--muted); font-size: 12px; }
header.top .live-state.on::before { content: "●"; color: var(--completed); margin-right: 4px; }
main { padding: 16px 24px 48px; max-width: 1280px; }
h1 { font-size: 20px; margin: 4px 0 12px; font-weight: 600; }
h2 { font-size: 15px; margin: 24px 0 8px; font-weight: 600; }
a { color: var(--accent); }
.mono, code, pre, .id { font-family: var(--mono); font-size: 12.5px; }
.id, td.when, td.num { white-space: nowrap; }
.muted { color: var(--muted); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 12px; background: var(--soft); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:hover td { background: #fbfcfd; }
.status { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; font-weight: 600;
  border: 1px solid currentColor; line-height: 18px; white-space: nowrap; }
.s-pending { color: var(--pending); } .s-running { color: var(--running); } .s-waiting { color: var(--waiting); }
.s-completed { color: var(--completed); } .s-failed { color: var(--failed); } .s-cancelled { color: var(--cancelled); }
.s-interrupted { color: var(--pending); }
.error { color: var(--failed); }
form.filters { display: flex; flex-wrap: wrap; gap: 8px 12px; align-items: end; margin-bottom: 12px; padding: 12px;
  background: var(--soft); border: 1px solid var(--line); border-radius: 6px; }
form.filters label, form.stack label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: 2px; }
input, select, textarea, button { font: inherit; }
input, select, textarea { border: 1px solid var(--line); border-radius: 4px; padding: 4px 6px; background: #fff; color: var(--fg); }
textarea { font-family: var(--mono); font-size: 12.5px; width: 100%; min-height: 140px; }
button, .button { display: inline-block; border: 1px solid var(--line); border-radius: 6px; padding: 4px 12px;
  background: var(--soft); color: var(--fg); cursor: pointer; text-decoration: none; font-size: 13px; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button.danger, .button.danger { color: var(--failed); }
button.danger.primary { background: var(--failed); border-color: var(--failed); color: #fff; }
.actions { display: flex; gap: 8px; margin: 8px 0 16px; flex-wrap: wrap; }
.notice { padding: 8px 12px; border-radius: 6px; margin: 0 0 12px; border: 1px solid #a7d8b4; background: #eefbf1; }
.notice.bad { border-color: #f3b1b6; background: #fff1f2; }
dl.fields { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dl.fields dt { color: var(--muted); }
dl.fields dd { margin: 0; }
details > summary { cursor: pointer; color: var(--muted); }
details[open] > summary { margin-bottom: 4px; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; overflow: auto;
  max-height: 480px; margin: 4px 0; white-space: pre-wrap; word-break: break-word; }
pre.stack { color: var(--muted); }
.pager { display: flex; gap: 12px; margin-top: 12px; align-items: center; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 12px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.card .big { font-size: 22px; font-weight: 600; }
svg.chart { width: 100%; max-width: 600px; height: auto; display: block; }
svg.chart .ok { fill: var(--completed); } svg.chart .bad { fill: var(--failed); } svg.chart .hit { fill: transparent; }
svg.chart .axis, svg.chart .grid { stroke: var(--line); } svg.chart .tick { fill: var(--muted); font-size: 10px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 16px; }
.legend .ok, .legend .bad { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 10px; }
.legend .ok { background: var(--completed); } .legend .bad { background: var(--failed); }
svg.timeline { display: block; width: 100%; height: 14px; }
svg.timeline .track { fill: var(--soft); } svg.timeline .completed { fill: var(--completed); } svg.timeline .failed { fill: var(--failed); }
td.bar { width: 38%; min-width: 160px; }
.confirm { max-width: 720px; border: 1px solid var(--line); border-radius: 6px; padding: 16px; }
.validation li { color: var(--failed); }
`

export const APP_JS = `
(function () {
  var live = document.getElementById('live');
  var state = document.getElementById('live-state');
  if (!live || !window.EventSource || !window.fetch) return;
  var timer = null, busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(location.href, { headers: { 'X-Reflow-Fragment': '1' }, credentials: 'same-origin', cache: 'no-store' })
      .then(function (res) { return res.ok ? res.text() : null; })
      .then(function (text) {
        if (text === null) return;
        var kept = {};
        live.querySelectorAll('details[id]').forEach(function (d) { kept[d.id] = d.open; });
        live.innerHTML = text;
        live.querySelectorAll('details[id]').forEach(function (d) { if (d.id in kept) d.open = kept[d.id]; });
        document.body.setAttribute('data-refreshes', String(Number(document.body.getAttribute('data-refreshes') || 0) + 1));
      })
      .catch(function () {})
      .then(function () { busy = false; if (again) { again = false; schedule(); } });
  }
  function schedule() { clearTimeout(timer); timer = setTimeout(refresh, 150); }
  var source = new EventSource('/events');
  source.onmessage = schedule;
  source.onopen = function () {
    if (state) { state.textContent = 'live'; state.className = 'live-state on'; }
    // Changes between rendering this page and opening the stream (or while reconnecting) were never announced.
    schedule();
  };
  source.onerror = function () { if (state) { state.textContent = 'reconnecting…'; state.className = 'live-state'; } };
})();
`
