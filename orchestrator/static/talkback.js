/* Talkback from the control page: press and hold TALK (or hold the T key) to speak through this
 * browser's microphone to one studio or all of them. The hosts hear it in their return feed with
 * the program ducked; it never reaches the program (orchestrator/returnfeeds.py).
 *
 * The microphone is connected (getUserMedia, one send-only peer connection, POST .../talkback) at the
 * first press and kept for the page's life; between presses its track is disabled, so only
 * silence leaves the browser. Each press/release keys the talk on the server (POST .../talkback/{id}).
 * Directors and producers only. Tests read window.talkback.
 */
"use strict";
(() => {
  const ctl = window.controlPage;
  if (!ctl) return;
  const API = `/api/shows/${encodeURIComponent(ctl.show)}/talkback`;
  const tb = { connected: false, talking: false, target: "all", location: null, presses: 0, lastError: "", conn: "new" };
  window.talkback = tb;
  let pc = null, track = null, connecting = null, held = false;

  const box = document.getElementById("talkback");
  if (!box) return;
  box.innerHTML = `
    <select id="talkback-target" title="Who hears the talkback"></select>
    <button id="talkback-button" class="btn small" title="Hold to talk to the studio (or hold T)">
      对讲 <span class="en">TALK (hold T)</span></button>
    <span id="talkback-state" class="muted small"></span>`;
  const select = document.getElementById("talkback-target");
  const button = document.getElementById("talkback-button");
  const stateEl = document.getElementById("talkback-state");

  function headers(extra) {
    const h = { ...extra };
    if (ctl.bearer) h.Authorization = "Bearer " + ctl.bearer;
    else if (ctl.csrf) h["X-CSRF-Token"] = ctl.csrf;
    return h;
  }

  function render() {
    const role = ctl.me && ctl.me.role;
    box.hidden = !(role === "director" || role === "producer");
    box.style.display = box.hidden ? "none" : "";  // .pill sets a display of its own
    button.classList.toggle("onair", tb.talking);
    stateEl.textContent = tb.talking ? "● ON" : tb.lastError ? tb.lastError.slice(0, 60) : "";
    const studios = (ctl.state && ctl.state.studios) || [];
    const want = ["all", ...studios.map((s) => s.id)].join(",");
    if (select.dataset.ids !== want) {
      select.replaceChildren(new Option("全部 All studios", "all"),
        ...studios.map((s) => new Option(s.name || s.id, s.id)));
      select.dataset.ids = want;
      select.value = studios.some((s) => s.id === tb.target) ? tb.target : "all";
    }
  }
  select.onchange = () => { tb.target = select.value; if (tb.talking) key(true); };

  async function connect() {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true } });
    track = stream.getAudioTracks()[0];
    track.enabled = false;
    const conn = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
    pc = conn;
    conn.addTransceiver(track, { direction: "sendonly" });
    conn.addEventListener("connectionstatechange", () => {
      tb.conn = conn.connectionState;
      if (["failed", "closed"].includes(conn.connectionState) && pc === conn) drop();  // next press connects again
    });
    await conn.setLocalDescription(await conn.createOffer());
    await new Promise((ok) => {
      if (conn.iceGatheringState === "complete") return ok();
      conn.addEventListener("icegatheringstatechange", () => conn.iceGatheringState === "complete" && ok());
      setTimeout(ok, 1000);
    });
    const res = await fetch(API, { method: "POST", body: conn.localDescription.sdp, credentials: "same-origin",
      headers: headers({ "Content-Type": "application/sdp" }) });
    if (res.status !== 201) { conn.close(); pc = null; throw new Error(`${res.status} ${await res.text()}`); }
    tb.location = res.headers.get("Location");
    await conn.setRemoteDescription({ type: "answer", sdp: await res.text() });
    tb.connected = true;
  }

  function drop() {
    const old = pc, where = tb.location;
    pc = null; tb.location = null; tb.connected = false; tb.talking = false;
    if (track) { track.stop(); track = null; }
    if (old) old.close();
    if (where) fetch(where, { method: "DELETE", keepalive: true, credentials: "same-origin", headers: headers() }).catch(() => {});
    render();
  }

  async function key(on) {
    if (!tb.location) return;
    const targets = tb.target === "all" ? "all" : [tb.target];
    const res = await fetch(tb.location, { method: "POST", credentials: "same-origin",
      headers: headers({ "Content-Type": "application/json" }), body: JSON.stringify({ on, targets }) });
    if (!res.ok) tb.lastError = `${res.status}`;
  }

  async function press() {
    if (held) return;
    held = true; tb.presses += 1; tb.lastError = "";
    try {
      if (!pc) { connecting = connecting || connect().finally(() => { connecting = null; }); await connecting; }
      if (!held) return;  // let go while connecting
      track.enabled = true;
      tb.talking = true; render();
      await key(true);
    } catch (e) {
      held = false; tb.lastError = String(e.message || e); render();
    }
  }

  async function release() {
    if (!held) return;
    held = false;
    if (track) track.enabled = false;
    const was = tb.talking;
    tb.talking = false; render();
    if (was) await key(false);
  }

  button.addEventListener("pointerdown", (e) => { e.preventDefault(); press(); });
  for (const ev of ["pointerup", "pointerleave", "pointercancel"]) button.addEventListener(ev, () => release());
  const typing = (t) => t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));
  document.addEventListener("keydown", (e) => {
    if (e.code !== "KeyT" || e.repeat || e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    if (document.querySelector("dialog[open]")) return;
    e.preventDefault(); press();
  });
  document.addEventListener("keyup", (e) => { if (e.code === "KeyT") release(); });
  window.addEventListener("blur", () => release());  // a key let go in another window
  window.addEventListener("pagehide", () => drop());
  setInterval(render, 1000);
  render();
})();
