// The "continue on another device" demo: each browser window is one device of the user "demo".
// A video position, a cart and a half-written form follow the user between windows.
import { HandoffClient, IndexedDbStore, OfferOutcome } from "./handoff-client.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const device =
  params.get("device") ??
  sessionStorage.getItem("handoff-demo-device") ??
  `window-${Math.random().toString(36).slice(2, 6)}`;
sessionStorage.setItem("handoff-demo-device", device);
$("device").textContent = device;
document.title = `Handoff: ${device}`;

const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
const client = new HandoffClient({
  url: wsUrl,
  tokenSource: async () => {
    const res = await fetch(`/demo/token?device=${encodeURIComponent(device)}`);
    if (!res.ok) throw new Error(`demo token: HTTP ${res.status}`);
    return (await res.json()).token;
  },
  store: new IndexedDbStore(`demo:${device}`),
  clientName: "handoff-demo/0.1",
});

// What tests and curious people can look at from the console.
const log = [];
window.demo = { client, device, log };

const player = client.document("player");
const cart = client.document("cart");
const form = client.document("form");

// ---- rendering ------------------------------------------------------------------------------
const fmt = (s) => `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
function renderPlayer() {
  const pos = Number(player.getString("position") ?? "0");
  if (document.activeElement !== $("position")) $("position").value = String(pos);
  $("position-label").textContent = fmt(pos);
}
function renderCart() {
  const items = [...cart.fields()].filter(([, v]) => v.length > 0);
  $("cart").innerHTML = items.length
    ? items.map(([k, v]) => `<li>${k} × ${new TextDecoder().decode(v)}</li>`).join("")
    : `<li class="muted">empty</li>`;
}
function renderForm() {
  for (const f of ["name", "message"]) {
    const el = $(`form-${f}`);
    if (document.activeElement !== el) el.value = form.getString(f) ?? "";
  }
}
function renderStatus() {
  const s = client.offline ? "offline" : client.state;
  $("state").textContent = s;
  $("state").className = `pill ${s}`;
  $("pending").textContent = `${client.pendingWrites} pending`;
}
function renderPresence() {
  const others = [...client.presence().values()];
  $("presence").innerHTML = others.length
    ? others
        .map((p) => `<li class="${p.online ? "online" : "offline"}">${p.deviceId}${p.online ? "" : " (away)"}</li>`)
        .join("")
    : `<li class="muted">none yet: open this page in another window</li>`;
}
function render() {
  renderPlayer();
  renderCart();
  renderForm();
  renderStatus();
}
setInterval(renderStatus, 250);

client.on("change", (c) => {
  log.push({ kind: c.kind, document: c.document, version: String(c.version), origin: c.originDevice ?? "" });
  render();
});
client.on("state", renderStatus);
client.on("presence", renderPresence);
client.on("error", (e) => console.warn("handoff:", e.message));

// ---- writes ---------------------------------------------------------------------------------
const write = (promise) => {
  renderStatus();
  promise.then(renderStatus, (e) => console.warn("write failed:", e.code, e.message));
};

let playing;
$("play").onclick = () => {
  if (playing) {
    clearInterval(playing);
    playing = undefined;
    $("play").textContent = "▶ Play";
    return;
  }
  $("play").textContent = "⏸ Pause";
  playing = setInterval(() => {
    const next = Math.min(600, Number(player.getString("position") ?? "0") + 1);
    write(player.set("position", String(next)));
  }, 1000);
};
$("position").oninput = () => {
  $("position-label").textContent = fmt(Number($("position").value));
};
$("position").onchange = () => write(player.set("position", $("position").value));

for (const b of document.querySelectorAll("[data-item]")) {
  b.onclick = () => {
    const item = b.dataset.item;
    // Counts queued while offline add up in order: each click is its own write.
    const n = Number(cart.getString(item) ?? "0") + 1 + pendingAdds(item);
    adds.set(item, (adds.get(item) ?? 0) + 1);
    write(
      cart.set(item, String(n)).finally(() => adds.set(item, adds.get(item) - 1)),
    );
  };
}
const adds = new Map();
const pendingAdds = (item) => adds.get(item) ?? 0;

const typing = {};
for (const f of ["name", "message"]) {
  $(`form-${f}`).oninput = () => {
    clearTimeout(typing[f]);
    typing[f] = setTimeout(() => write(form.set(f, $(`form-${f}`).value)), 250);
  };
}

// ---- offline toggle (kept across reloads of this tab) ----------------------------------------
$("offline").checked = sessionStorage.getItem("handoff-demo-offline") === "1";
$("offline").onchange = () => {
  sessionStorage.setItem("handoff-demo-offline", $("offline").checked ? "1" : "0");
  client.setOffline($("offline").checked);
  renderStatus();
};

// ---- continue on another device -------------------------------------------------------------
$("continue").onclick = async () => {
  const title = `Video at ${fmt(Number(player.getString("position") ?? "0"))}, ${cart.fields().size} in cart`;
  await client.publishActivity({ document: "player", kind: "session", title });
  const offer = client.offer({ document: "player", kind: "session", title }, { ttlMs: 60_000 });
  $("offer-status").textContent = "Offered to your other windows…";
  try {
    await offer.created;
    const r = await offer.result;
    const how = OfferOutcome[r.outcome].toLowerCase();
    $("offer-status").textContent = r.byDevice ? `${how} by ${r.byDevice}` : how;
    if (r.outcome === OfferOutcome.ACCEPTED && playing) $("play").click();
  } catch (e) {
    $("offer-status").textContent = `offer failed: ${e.message}`;
  }
};

let prompt;
client.on("prompt", (offer) => {
  prompt = offer;
  $("prompt-from").textContent = offer.fromDevice;
  $("prompt-title").textContent = offer.activity?.title ?? "";
  $("prompt").hidden = false;
});
client.on("withdrawn", (offerId) => {
  if (prompt?.offerId === offerId) $("prompt").hidden = true;
});
$("accept").onclick = async () => {
  $("prompt").hidden = true;
  try {
    const granted = await client.accept(prompt.offerId);
    const at = granted.snapshot?.fields.position;
    $("notice").textContent = `Continued from ${granted.offer.fromDevice}${at ? ` at ${fmt(Number(new TextDecoder().decode(at)))}` : ""}.`;
    $("notice").hidden = false;
    render();
  } catch (e) {
    $("notice").textContent = `Too late: ${e.message}`;
    $("notice").hidden = false;
  }
};
$("decline").onclick = () => {
  $("prompt").hidden = true;
  client.decline(prompt.offerId).catch(() => {});
};

// ---- start ----------------------------------------------------------------------------------
await client.ready();
render();
if ($("offline").checked) client.setOffline(true);
client.connect().catch((e) => console.warn("handoff:", e.message));
client.on("synced", render);
