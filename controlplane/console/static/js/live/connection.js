// One WebSocket for every live tile on the page (WebSockets are not under the browser's six
// connections per host, and one socket carries 16 tiles as well as one). A browser cannot put the
// API token on a WebSocket, and it must never ride in a URL: each connection is opened with a
// one-use ticket from an ordinary authenticated call. Lost connections come back with a new ticket.
import { post } from "../api.js";

const INIT = 0;

export class LiveConnection {
  constructor() {
    this.tiles = new Map(); // tile id -> {source, onStatus(message), onInit(data), onFragment(data)}
    this.ws = null;
    this.closed = false;
    this.failures = 0;
    this.timer = null;
    this.connect();
  }

  async connect() {
    if (this.closed) return;
    let ticket;
    try {
      ticket = (await post("/live/ticket")).ticket;
    } catch (err) {
      this.lost(`cannot open the live connection: ${err.message}`);
      return;
    }
    if (this.closed) return;
    const url = new URL(`/api/v1/live/ws?ticket=${encodeURIComponent(ticket)}`, location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      this.failures = 0;
      for (const [tile, t] of this.tiles) this.send(ws, { open: tile, source: t.source });
    };
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.lost("connection to the server lost");
    };
    this.ws = ws;
  }

  lost(detail) {
    if (this.closed) return;
    for (const t of this.tiles.values()) t.onStatus({ state: "reconnecting", detail });
    this.failures += 1;
    const delay = Math.min(10000, 500 * 2 ** Math.min(this.failures, 5));
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  receive(data) {
    if (typeof data === "string") {
      const message = JSON.parse(data);
      this.tiles.get(message.tile)?.onStatus(message);
      return;
    }
    const head = new DataView(data, 0, 3);
    const t = this.tiles.get(head.getUint16(0));
    if (!t) return;
    const body = new Uint8Array(data, 3);
    if (head.getUint8(2) === INIT) t.onInit(body);
    else t.onFragment(body);
  }

  send(ws, message) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  }

  open(tile, source, handlers) {
    this.tiles.set(tile, { source, ...handlers });
    this.send(this.ws, { open: tile, source });
  }

  close(tile) {
    if (this.tiles.delete(tile)) this.send(this.ws, { close: tile });
  }

  shutdown() {
    this.closed = true;
    clearTimeout(this.timer);
    this.tiles.clear();
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close();
  }
}
