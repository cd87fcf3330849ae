// Keeping a view fresh: the one polling loop every view uses.
//
//   const feed = poll({ what: "the sources", every: 5000, el, load: () => getCached("/source"), show });
//   await feed.ready; ... return { cleanup: feed.stop };
//
// - load() is called every `every` ms, never twice at once, and not while the tab is hidden (a hidden
//   tab is caught up as soon as it is shown again);
// - show(data) runs only when the answer changed (getCached answers an unchanged list with the same
//   object, after a 304): otherwise the page, and what the user is doing in it, is left alone;
// - a failure is shown in the status bar under the header, with its reason, and the next try waits
//   twice as long each time (up to a minute); the first success clears it;
// - `fatal(err)` true stops the loop (a 404: the thing is gone) and hands the error to `onFatal`;
// - it stops with stop(), or by itself once `el` has left the page (a view that was navigated away
//   from and forgot to stop it).
import { h } from "./dom.js";

const MAX_DELAY_MS = 60000;
const problems = new Map(); // poller -> its message, shown together in #status

export function poll({ load, show, every, el = null, what = "this page", fatal = () => false, onFatal = () => {} }) {
  let timer = null;
  let stopped = false;
  let running = false;
  let again = false; // refresh() asked while a load was under way: load once more after it
  let failures = 0;
  let last;
  const self = {};

  function schedule(ms) {
    clearTimeout(timer);
    timer = stopped || document.hidden ? null : setTimeout(run, ms);
  }

  async function run() {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    if (el && self.ready && !el.isConnected) return stop(); // the first load may come before the mount
    running = true;
    try {
      const data = await load();
      if (stopped) return;
      if (!sameAnswer(data, last)) show(data);
      last = data;
      failures = 0;
      report(self, null);
      schedule(every);
    } catch (err) {
      if (stopped) return;
      if (fatal(err)) {
        stop();
        onFatal(err);
        return;
      }
      failures += 1;
      const delay = Math.min(MAX_DELAY_MS, every * 2 ** failures);
      report(self, `Could not refresh ${what}: ${err.message || err}. Trying again in ${Math.round(delay / 1000)} s.`, run);
      schedule(delay);
    } finally {
      running = false;
    }
    if (again && !stopped) {
      again = false;
      await run();
    }
  }

  const onVisibility = () => (document.hidden ? schedule(0) : run());

  function stop() {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener("visibilitychange", onVisibility);
    report(self, null);
  }

  document.addEventListener("visibilitychange", onVisibility);
  Object.assign(self, { stop, refresh: run, ready: run() });
  return self;
}

// Unchanged: the same object (getCached's copy after a 304), or parts that are (several lists at
// once); a list read in full (no ETag) is compared by its JSON.
function sameAnswer(a, b) {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => x === b[i])) return true;
  return b !== undefined && JSON.stringify(a) === JSON.stringify(b);
}

function report(poller, message, retry) {
  if (message) problems.set(poller, { message, retry });
  else if (!problems.delete(poller)) return;
  const bar = document.getElementById("status");
  if (!bar) return;
  bar.hidden = problems.size === 0;
  bar.replaceChildren(
    ...[...problems.values()].map((p) =>
      h("p", p.message, " ", h("button.link", { onclick: () => p.retry() }, "Try now")),
    ),
  );
}
