/* The crew's program monitor with sound, and solo (PFL) of one studio, over WebRTC.
 *
 * The program monitor is a WHEP-style peer connection to POST /api/shows/{show}/monitor
 * (operators only): the real program, the shared encode, live (before any broadcast
 * delay). Its data channel carries "monitor.clock" messages (which program clock tick an
 * RTP timestamp is) and answers pings, so the page measures the glass-to-glass delay of
 * the frame it shows: program clock tick -> displayed here (requestVideoFrameCallback's
 * rtpTimestamp and expectedDisplayTime, corrected by the clock offset the pings measure).
 * If WebRTC fails (refused, no connection within 15 s, or no picture), the page keeps
 * today's JPEG monitor and says so on the monitor; it tries WebRTC again every 30 s.
 *
 * Browsers play sound only after a user gesture: the monitor starts muted and the
 * "Sound" button turns it on. Solo: a button per studio strip opens an audio-only
 * stream of that studio before gain and mute (POST .../solo/{studio}); while a solo is
 * on, it replaces the program sound in the operator's ears; the program mix and the
 * meters are unchanged. Everything is closed when the page goes (DELETE + close).
 * Tests read window.controlPage.monitor.
 */
"use strict";
(() => {
  const CONNECT_TIMEOUT_MS = 15000;
  const RETRY_MS = 30000;
  const PING_EVERY_MS = 2000;
  const $ = (id) => document.getElementById(id);
  let ctl = null;
  let API = "";

  const mon = {
    mode: "off", // off | starting | webrtc | jpeg (the fallback)
    note: "",
    delayMs: null, // median of the last measurements, program clock tick -> displayed here
    lastDelayMs: null,
    measurements: 0,
    offsetMs: null, // server clock - page clock (best ping)
    rttMs: null,
    sound: false,
    solo: null, // studio id being soloed
    soloState: "",
    stats: {}, // from getStats: framesDecoded, audio samples and level, of the monitor and the solo
    location: null,
    soloLocation: null,
    attempts: 0,
    errors: [],
  };

  let pc = null;
  let channel = null;
  let clock = null; // {rtp, tick_ms}
  const delays = [];
  const pings = []; // [{rtt, offset}]
  let timers = [];
  let retryTimer = 0;
  let soloPc = null;
  let observing = false;
  let session = 0; // bumps on every stop: late callbacks of an old attempt do nothing

  const wallNow = () => performance.timeOrigin + performance.now();

  function authHeaders() {
    return ctl && ctl.authHeaders ? ctl.authHeaders("POST") : {};
  }

  async function offerTo(peer, path) {
    await peer.setLocalDescription(await peer.createOffer());
    // No trickle ICE on the server: wait for our candidates (loopback/LAN: well under a second).
    await new Promise((resolve) => {
      if (peer.iceGatheringState === "complete") return resolve();
      const done = () => { if (peer.iceGatheringState === "complete") resolve(); };
      peer.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, 2000);
    });
    const res = await fetch(path, {
      method: "POST",
      headers: { ...authHeaders(), "Content-Type": "application/sdp" },
      body: peer.localDescription.sdp,
      credentials: "same-origin",
      cache: "no-store",
    });
    const text = await res.text();
    if (res.status !== 201) {
      let why = text;
      try { why = JSON.parse(text).error || text; } catch (_) { /* plain text */ }
      throw new Error(`${res.status} ${why}`.slice(0, 200));
    }
    await peer.setRemoteDescription({ type: "answer", sdp: text });
    return res.headers.get("Location");
  }

  function release(location) {
    if (!location) return;
    // keepalive: the DELETE still goes out when the page is closing.
    fetch(location, { method: "DELETE", headers: authHeaders(), credentials: "same-origin", keepalive: true }).catch(() => null);
  }

  // ---------------------------------------------------------------- program monitor
  async function start() {
    if (!ctl || !ctl.me || mon.mode === "starting" || mon.mode === "webrtc") return;
    const my = ++session;
    mon.attempts += 1;
    mon.mode = "starting";
    render();
    if (!window.RTCPeerConnection) return fallback("此浏览器不支持 WebRTC: WebRTC is not available in this browser", my);
    pc = new RTCPeerConnection();
    const peer = pc;
    peer.addTransceiver("video", { direction: "recvonly" });
    peer.addTransceiver("audio", { direction: "recvonly" });
    channel = peer.createDataChannel("monitor");
    channel.onmessage = (e) => onMessage(e.data);
    channel.onopen = () => ping();
    const video = $("pgm-video");
    peer.ontrack = (e) => {
      if (!video.srcObject) video.srcObject = new MediaStream();
      video.srcObject.addTrack(e.track);
      video.play().catch(() => null);
    };
    peer.onconnectionstatechange = () => {
      if (my !== session) return;
      if (peer.connectionState === "failed" || peer.connectionState === "closed") fallback("连接中断 connection lost", my);
    };
    timers.push(setTimeout(() => { if (my === session && mon.mode !== "webrtc") fallback("15 秒内未连通 no picture within 15 s", my); }, CONNECT_TIMEOUT_MS));
    try {
      mon.location = await offerTo(peer, `${API}/monitor`);
    } catch (e) {
      return fallback("服务器拒绝 refused: " + e.message, my);
    }
    if (my !== session) return;
    const onFrame = (now, meta) => {
      if (my !== session) return;
      if (mon.mode === "starting") becameLive();
      measure(meta);
      video.requestVideoFrameCallback(onFrame);
    };
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(onFrame);
    else video.addEventListener("playing", () => { if (my === session && mon.mode === "starting") becameLive(); }, { once: true });
    timers.push(setInterval(ping, PING_EVERY_MS));
    timers.push(setInterval(readStats, 1000));
  }

  function becameLive() {
    mon.mode = "webrtc";
    mon.note = "";
    if (ctl.stopJpegMonitor) ctl.stopJpegMonitor();
    render();
  }

  function fallback(why, my) {
    if (my !== session) return;
    closeMonitor();
    mon.mode = "jpeg";
    mon.note = why;
    mon.errors.push(why);
    if (mon.errors.length > 20) mon.errors.shift();
    if (ctl && ctl.startJpegMonitor) ctl.startJpegMonitor();
    render();
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => { if (mon.mode === "jpeg") start(); }, RETRY_MS);
  }

  function closeMonitor() {
    session += 1;
    for (const t of timers) { clearTimeout(t); clearInterval(t); }
    timers = [];
    if (pc) { pc.close(); pc = null; }
    channel = null;
    clock = null;
    release(mon.location);
    mon.location = null;
    const video = $("pgm-video");
    if (video) { video.pause(); video.srcObject = null; }
    delays.length = 0;
    mon.delayMs = mon.lastDelayMs = null;
  }

  function onMessage(data) {
    let m;
    try { m = JSON.parse(data); } catch (_) { return; }
    if (m.type === "monitor.clock") clock = m;
    else if (m.type === "pong") {
      const now = wallNow();
      const rtt = now - m.t;
      pings.push({ rtt, offset: m.server_ms - (m.t + now) / 2 });
      if (pings.length > 10) pings.shift();
      const best = pings.reduce((a, b) => (b.rtt < a.rtt ? b : a));
      mon.offsetMs = Math.round(best.offset * 10) / 10;
      mon.rttMs = Math.round(best.rtt * 10) / 10;
    }
  }

  function ping() {
    if (channel && channel.readyState === "open") channel.send(JSON.stringify({ type: "ping", t: wallNow() }));
  }

  /** Program clock tick of the frame on screen -> its display time here, in the server's clock. */
  function measure(meta) {
    if (!clock || mon.offsetMs == null || meta.rtpTimestamp == null) return;
    const ticks = ((meta.rtpTimestamp - clock.rtp) | 0) / (clock.rtp_hz / 1000); // int32: wraps
    const tick = clock.tick_ms + ticks;
    const shown = performance.timeOrigin + (meta.expectedDisplayTime || meta.presentationTime || performance.now());
    const delay = shown + mon.offsetMs - tick;
    if (!(delay > -1000 && delay < 60000)) return; // a stale clock message, not a measurement
    mon.lastDelayMs = Math.round(delay);
    mon.measurements += 1;
    delays.push(delay);
    if (delays.length > 60) delays.shift();
    const sorted = [...delays].sort((a, b) => a - b);
    mon.delayMs = Math.round(sorted[sorted.length >> 1]);
  }

  async function readStats() {
    const out = {};
    for (const [name, peer] of [["monitor", pc], ["solo", soloPc]]) {
      if (!peer) continue;
      try {
        const report = await peer.getStats();
        report.forEach((s) => {
          if (s.type !== "inbound-rtp") return;
          // The browser's jitter buffer, average over the stream (ms): where audio and video differ.
          const jb = s.jitterBufferEmittedCount ? Math.round((1000 * s.jitterBufferDelay) / s.jitterBufferEmittedCount) : null;
          if (s.kind === "video") { out[name + "VideoFrames"] = s.framesDecoded || 0; out[name + "VideoJitterMs"] = jb; }
          if (s.kind === "audio") {
            out[name + "AudioJitterMs"] = jb;
            out[name + "AudioSamples"] = s.totalSamplesReceived || 0;
            out[name + "AudioLevel"] = s.audioLevel || 0;
            out[name + "AudioEnergy"] = s.totalAudioEnergy || 0;
          }
        });
      } catch (_) { /* closed meanwhile */ }
    }
    mon.stats = out;
    render();
  }

  // ---------------------------------------------------------------- sound and solo
  function setSound(on) {
    mon.sound = on;
    const video = $("pgm-video");
    video.muted = !on || !!mon.solo; // a solo replaces the program in the operator's ears
    if (on) video.play().catch(() => null);
    const audio = $("solo-audio");
    if (audio) { audio.muted = !on; if (on) audio.play().catch(() => null); }
    render();
  }

  async function solo(studio) {
    const wasThis = mon.solo === studio;
    stopSolo();
    if (wasThis || !studio) return render();
    mon.solo = studio;
    mon.soloState = "starting";
    render();
    const peer = (soloPc = new RTCPeerConnection());
    peer.addTransceiver("audio", { direction: "recvonly" });
    const audio = $("solo-audio");
    peer.ontrack = (e) => { audio.srcObject = new MediaStream([e.track]); audio.muted = !mon.sound; audio.play().catch(() => null); };
    peer.onconnectionstatechange = () => {
      if (soloPc !== peer) return;
      if (peer.connectionState === "connected") { mon.soloState = "on"; render(); }
      if (peer.connectionState === "failed") { stopSolo(); mon.soloState = "failed"; render(); }
    };
    try {
      const location = await offerTo(peer, `${API}/solo/${encodeURIComponent(studio)}`);
      if (soloPc === peer) mon.soloLocation = location;
      else release(location); // solo stopped while the offer was on its way
    } catch (e) {
      if (soloPc === peer) { stopSolo(); mon.soloState = "refused: " + e.message; }
    }
    setSound(mon.sound);
  }

  function stopSolo() {
    if (soloPc) { soloPc.close(); soloPc = null; }
    release(mon.soloLocation);
    mon.soloLocation = null;
    mon.solo = null;
    mon.soloState = "";
    const audio = $("solo-audio");
    if (audio) { audio.pause(); audio.srcObject = null; }
    const video = $("pgm-video");
    if (video) video.muted = !mon.sound;
  }

  /** A PFL button on each studio's audio strip (the strips are rebuilt by control.js). */
  function addSoloButtons() {
    for (const card of document.querySelectorAll("#audio-strips .scard[data-studio]")) {
      const strip = card.querySelector(".strip");
      if (!strip || strip.querySelector(".solo")) continue;
      const studio = card.dataset.studio;
      const button = document.createElement("button");
      button.className = "btn small solo";
      button.dataset.studio = studio;
      button.title = "单独监听 Solo / pre-listen (PFL): this studio before gain and mute, in your headphones only";
      button.innerHTML = '监听 <span class="en">PFL</span>';
      button.addEventListener("click", () => solo(studio));
      strip.append(button);
    }
    render();
  }

  // ---------------------------------------------------------------- what the page shows
  function soloName(studio) {
    const card = document.querySelector(`#audio-strips .scard[data-studio="${CSS.escape(studio)}"] .nm`);
    return card ? card.textContent : studio;
  }
  function render() {
    const video = $("pgm-video");
    const img = $("pgm-img");
    if (!video) return;
    const live = mon.mode === "webrtc";
    video.hidden = !live;
    video.classList.toggle("has-frame", live); // hides the placeholder
    if (img) img.hidden = live;
    const note = $("pgm-note");
    note.hidden = mon.mode !== "jpeg";
    note.textContent = mon.mode === "jpeg" ? `JPEG 监视 (无声) JPEG monitor, no sound: WebRTC ${mon.note}` : "";
    const sound = $("pgm-sound");
    sound.hidden = !live;
    sound.classList.toggle("on", mon.sound);
    sound.textContent = mon.solo ? `监听 PFL: ${soloName(mon.solo)}${mon.sound ? "" : " (声音关 sound off)"}` : mon.sound ? "声音开 Sound on" : "打开声音 Sound off: click";
    sound.classList.toggle("pfl", !!mon.solo);
    if (live) {
      const info = $("pgm-info");
      // The clock offset is known to ± half the best ping's round trip: a median below zero says
      // the offset is off by more than the delay, so only a bound is honest then.
      const bound = mon.delayMs != null && mon.rttMs != null ? Math.round(mon.delayMs + mon.rttMs / 2) : 0;
      info.textContent = mon.delayMs == null ? "WebRTC 测量延迟 measuring delay…"
        : mon.delayMs >= 0 ? `WebRTC 延迟 delay ${mon.delayMs} ms`
        : bound > 0 ? `WebRTC 延迟 delay < ${bound} ms (时钟不确定 clock uncertain)`
        : "WebRTC 延迟 delay: 时钟不确定 clock uncertain";
      info.title = "Measured: program clock tick -> shown on this page (clock offset by ping, ±" + (mon.rttMs != null ? (mon.rttMs / 2).toFixed(1) : "?") + " ms)";
    }
    for (const b of document.querySelectorAll("#audio-strips .solo")) {
      const on = b.dataset.studio === mon.solo;
      b.classList.toggle("on", on);
      b.title = on && mon.soloState ? `PFL ${mon.soloState}` : b.title;
    }
  }

  const crewMonitor = {
    start(control, api) {
      ctl = control;
      API = api;
      ctl.monitor = mon;
      $("pgm-sound").onclick = () => setSound(!mon.sound);
      if (!observing) new MutationObserver(addSoloButtons).observe($("audio-strips"), { childList: true });
      observing = true;
      addSoloButtons();
      start();
    },
    stop() {
      clearTimeout(retryTimer);
      stopSolo();
      closeMonitor();
      mon.mode = "off";
      render();
    },
    /** The server answers again after a loss (control.js): the connection may be to a server that
     * is gone (a restart), whose frozen picture would still say "WebRTC"; start again now, not at
     * the end of RETRY_MS (a trial: 36 s without WebRTC after a restart). */
    reconnect() {
      if (!ctl || mon.mode === "off") return;
      fallback("重新连接 reconnecting after a lost connection", session);
      start();
    },
    solo,
    setSound,
  };
  window.crewMonitor = crewMonitor;
  window.addEventListener("pagehide", () => { stopSolo(); closeMonitor(); });
})();
