// The host's return feed on the join page: the program picture and the program sound minus
// the host's own voice (mix-minus), over a second, receive-only peer connection
// (POST /return/{show}/{studio} with the join token; orchestrator/returnfeeds.py).
// Also shows who of the crew is talking to this host (talkback), from the host channel.
// The join page calls returnFeed.init(...), open() once it has joined, close() when it leaves,
// and onState(message) for each host-channel state; tests read returnFeed.state.
"use strict";
window.returnFeed = (() => {
  const TEXT = {
    en: {
      title: "Program return", volume: "Volume", mute: "Mute", unmute: "Unmute",
      headphones: "Wear headphones: the program sound must not reach your microphone.",
      tapToHear: "Tap to hear the program", talking: (names) => `${names} (crew) is talking to you`,
      connecting: "connecting…", live: "live", retrying: "reconnecting…",
    },
    zh: {
      title: "节目返送", volume: "音量", mute: "静音", unmute: "取消静音",
      headphones: "请戴耳机：节目声音不能进入您的麦克风。",
      tapToHear: "点击收听节目", talking: (names) => `导播 ${names} 正在对您讲话`,
      connecting: "连接中…", live: "已连接", retrying: "重新连接中…",
    },
  };
  const RECONNECT_AFTER_MS = 3000;
  const st = { open: false, conn: "new", reconnects: 0, talkback: [], volume: 0.8, muted: false, lastError: "" };
  let cfg = null, T = TEXT.en, pc = null, resource = null, badTimer = null, retrying = false;
  let el = {};

  function build(container) {
    container.innerHTML = `
      <div class="return-head"><b></b> <span class="return-state"></span></div>
      <div class="return-talkback" hidden></div>
      <video class="return-picture" autoplay playsinline></video>
      <div class="return-controls">
        <label><span class="return-volume-label"></span>
          <input class="return-volume" type="range" min="0" max="1" step="0.05"></label>
        <button class="return-mute" type="button"></button>
      </div>
      <div class="return-note"></div>`;
    const q = (c) => container.querySelector(c);
    el = { box: container, head: q(".return-head b"), state: q(".return-state"), talk: q(".return-talkback"),
      video: q(".return-picture"), volume: q(".return-volume"), volumeLabel: q(".return-volume-label"),
      mute: q(".return-mute"), note: q(".return-note") };
    el.head.textContent = T.title;
    el.volumeLabel.textContent = T.volume;
    el.note.textContent = T.headphones;
    el.volume.value = String(st.volume);
    el.volume.oninput = () => { st.volume = Number(el.volume.value); el.video.volume = st.volume; };
    el.mute.onclick = () => { setMuted(!st.muted); el.video.play().catch(() => {}); };
    el.video.volume = st.volume;
    render();
  }

  function setMuted(muted) { st.muted = muted; el.video.muted = muted; render(); }

  function render() {
    if (!el.box) return;
    el.box.hidden = !st.open;
    el.mute.textContent = st.muted ? T.unmute : T.mute;
    el.state.textContent = st.conn === "connected" ? T.live : (retrying ? T.retrying : T.connecting);
    el.talk.hidden = st.talkback.length === 0;
    el.talk.textContent = st.talkback.length ? T.talking(st.talkback.join(", ")) : "";
  }

  async function connect() {
    const conn = new RTCPeerConnection({ iceServers: cfg.iceServers || [], bundlePolicy: "max-bundle" });
    pc = conn;
    conn.addTransceiver("video", { direction: "recvonly" });
    conn.addTransceiver("audio", { direction: "recvonly" });
    const stream = new MediaStream();
    conn.addEventListener("track", (ev) => {
      stream.addTrack(ev.track);
      if (el.video.srcObject !== stream) el.video.srcObject = stream;
      // Joining was a click, so sound may play; if the browser still refuses, play muted and say so.
      el.video.play().catch(() => { setMuted(true); el.mute.textContent = T.tapToHear; el.video.play().catch(() => {}); });
    });
    conn.addEventListener("connectionstatechange", () => onConnState(conn));
    await conn.setLocalDescription(await conn.createOffer());
    await new Promise((ok) => {
      if (conn.iceGatheringState === "complete") return ok();
      conn.addEventListener("icegatheringstatechange", () => conn.iceGatheringState === "complete" && ok());
      setTimeout(ok, 1000);
    });
    const res = await fetch(cfg.url, { method: "POST", body: conn.localDescription.sdp,
      headers: { "Content-Type": "application/sdp", "Authorization": "Bearer " + cfg.token } });
    if (res.status !== 201) {
      conn.close();
      throw new Error("return feed: " + res.status + " " + await res.text());
    }
    resource = res.headers.get("Location");
    await conn.setRemoteDescription({ type: "answer", sdp: await res.text() });
  }

  function onConnState(conn) {
    if (conn !== pc) return;
    st.conn = conn.connectionState;
    if (st.conn === "connected") { clearTimeout(badTimer); badTimer = null; }
    else if (st.conn === "failed" || st.conn === "closed") reconnect();
    else if (st.conn === "disconnected" && !badTimer) {
      badTimer = setTimeout(() => { badTimer = null; if (pc === conn && conn.connectionState !== "connected") reconnect(); }, RECONNECT_AFTER_MS);
    }
    render();
  }

  function drop() {
    const old = pc, oldResource = resource;
    pc = null; resource = null; st.conn = "new";
    if (old) old.close();
    if (oldResource) {
      fetch(oldResource, { method: "DELETE", keepalive: true, headers: { "Authorization": "Bearer " + cfg.token } }).catch(() => {});
    }
  }

  // Like the WHIP side: a new connection with the same link, backing off 0.5-4 s while it fails
  // (409 while the studio's own WHIP session is being replaced).
  async function reconnect() {
    if (!st.open || retrying) return;
    retrying = true; st.reconnects += 1; render();
    let delay = 0;
    while (st.open) {
      drop();
      try { await connect(); break; } catch (e) {
        st.lastError = String(e);
        delay = Math.min(delay ? delay * 2 : 500, 4000);
        await new Promise((ok) => setTimeout(ok, delay));
      }
    }
    retrying = false; render();
  }

  return {
    state: st,
    init(settings) {
      cfg = settings;
      T = TEXT[settings.lang] || TEXT.en;
      build(settings.container);
    },
    async open() {
      if (st.open || !cfg) return;
      st.open = true; render();
      try { await connect(); } catch (e) { st.lastError = String(e); reconnect(); }
    },
    close() {
      st.open = false; clearTimeout(badTimer); badTimer = null;
      drop(); if (el.video) el.video.srcObject = null;
      render();
    },
    onState(m) {
      const names = Array.isArray(m.talkback) ? m.talkback : [];
      if (JSON.stringify(names) !== JSON.stringify(st.talkback)) { st.talkback = names; render(); }
    },
    stats: async () => (pc ? pc.getStats() : null),
  };
})();
