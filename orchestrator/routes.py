"""The one route table: every route with what it takes and answers (:class:`~orchestrator.endpoint.Endpoint`).

aiohttp serves :data:`routes`; the OpenAPI document (:mod:`orchestrator.openapi`) is generated
from :data:`ENDPOINTS` with the models named here (:mod:`orchestrator.answers`,
:mod:`orchestrator.bodies`) and each route's summary and description from ``routes.md`` beside
this file. Who may call a route is :mod:`orchestrator.auth`'s table.
"""

from __future__ import annotations

from aiohttp import web

from orchestrator import answers as a
from orchestrator import bodies as b
from orchestrator.endpoint import CSV, HTML, JSON, SDPFRAG, Endpoint, offer, preflight
from orchestrator.productimport import CatalogueCsv, CatalogueJson
from orchestrator.sessions import COOKIE, CSRF_HEADER
from orchestrator.views import (
    alarmsapi,
    api,
    cardsapi,
    catalogueapi,
    clusterapi,
    control,
    docs,
    health,
    hostapi,
    join,
    live,
    mixerapi,
    monitorapi,
    outputsapi,
    returnfeed,
    session,
    studiosapi,
    talkbackapi,
    whep,
    whip,
)

SHOW = "/api/shows/{show}"
STUDIO = SHOW + "/studios/{studio}"
STREAM = "multipart/x-mixed-replace"
CSRF = "send it back on changes (or send JSON bodies)"
SIGNED_IN = {"Set-Cookie": f"{COOKIE}=...; HttpOnly; SameSite=Strict", CSRF_HEADER: "the session's CSRF token: " + CSRF}
WHIP = "/whip/{show}/{studio}"
WHIP_SESSION = WHIP + "/{session}"
PRODUCT = SHOW + "/products/{product}"
HLS_FILE = {"name": {"type": "string", "examples": ["index.m3u8"]}}
STATIC_FILE = {"name": {"enum": list(control.STATIC_FILES)}}
CATALOGUE = {CSV: CatalogueCsv, JSON: CatalogueJson}  # the import takes either
E = Endpoint

ENDPOINTS: list[Endpoint] = [
    E("GET", "/healthz", health.healthz, a.Health, errors=(503,)),
    E("GET", "/metrics", health.metrics, "text/plain"),
    E("GET", "/join/{token}", join.page, HTML, errors=(403,)),
    offer(WHIP, whip.post, "the session", "join", errors=(409,), headers={"Accept-Patch": SDPFRAG}),
    E("DELETE", WHIP_SESSION, whip.delete, auth="join"),
    E("PATCH", WHIP_SESSION, whip.patch, None, SDPFRAG, status=204, auth="join", errors=(412, 415, 422, 428)),
    preflight(WHIP, whip.options),
    preflight(WHIP_SESSION, whip.options),
    E("GET", "/host/{token}/ws", hostapi.host_socket, status=101, errors=(401,)),
    E("POST", STUDIO + "/cue", hostapi.cue, a.CueAnswer, b.CueBody, errors=(503,)),
    E("GET", "/live/{show}.flv", live.flv, "video/x-flv"),
    E("GET", "/live/{show}/{name}", live.hls, "application/vnd.apple.mpegurl", params=HLS_FILE),
    E("POST", "/api/login", session.login, a.Operator, b.LoginBody, errors=(401, 403, 429), headers=SIGNED_IN),
    E("POST", "/api/logout", session.logout, a.SignedOut, b.EmptyBody),
    E("GET", "/api/me", session.me, a.Operator, auth="operator", headers={CSRF_HEADER: "signed in by cookie: " + CSRF}),
    E("GET", "/control/{show}", control.page, HTML),
    E("GET", "/static/{name}", control.static, "text/javascript", params=STATIC_FILE),
    E("GET", SHOW + "/ws", control.live_state, status=101),
    E("GET", SHOW + "/events.csv", control.events_csv, CSV, errors=(503,)),
    E("GET", SHOW + "/multiview/{source}.jpg", control.snapshot, "image/jpeg"),
    E("GET", SHOW + "/multiview/{source}.mjpg", control.mjpeg, STREAM, fuzz=False),
    E("GET", "/api/openapi.json", docs.openapi_json, a.OpenApiDocument),
    E("GET", "/api/shows", api.list_shows, a.ShowList),
    E("GET", "/api/cluster", clusterapi.cluster, a.Cluster),
    E("POST", SHOW + "/move", clusterapi.move, a.Moving, b.MoveBody, errors=(409, 503)),
    E("GET", SHOW, api.get_show, a.Show),
    E("POST", SHOW + "/cut", api.cut, a.Mixer, b.ProgramBody, errors=(503,)),
    E("POST", SHOW + "/preview", api.preview, a.Mixer, b.ProgramBody, errors=(503,)),
    E("GET", SHOW + "/events", api.events, a.EventList, query=b.EventsQuery, errors=(503,)),
    E("GET", SHOW + "/links", api.links, a.LinkList),
    E("POST", STUDIO + "/kick", studiosapi.kick, a.Kicked, b.EmptyBody, errors=(503,)),
    E("POST", STUDIO + "/reissue", studiosapi.reissue, a.JoinLink, b.EmptyBody, errors=(503,)),
    E("GET", STUDIO + "/qr.svg", studiosapi.qr, "image/svg+xml"),
    E("POST", SHOW + "/take", mixerapi.take, a.Mixer, b.TakeBody, errors=(409, 503)),
    E("POST", SHOW + "/layout", mixerapi.layout, a.Mixer, b.LayoutBody, errors=(503,)),
    E("POST", SHOW + "/panic", mixerapi.panic, a.Mixer, b.PanicBody, errors=(503,)),
    E("POST", SHOW + "/unpanic", mixerapi.unpanic, a.Mixer, b.EmptyBody, errors=(503,)),
    E("POST", SHOW + "/ftb", mixerapi.ftb, a.Mixer, b.FtbBody, errors=(503,)),
    E("POST", SHOW + "/tbar", mixerapi.tbar, a.Mixer, b.TbarBody, errors=(409, 503)),
    E("GET", SHOW + "/alarms", alarmsapi.list_alarms, a.AlarmList),
    E("POST", SHOW + "/alarms/{alarm}/ack", alarmsapi.acknowledge, a.Alarm, b.EmptyBody),
    E("POST", SHOW + "/fallback-policy", mixerapi.fallback_policy, a.Mixer, b.FallbackPolicyBody, errors=(503,)),
    E("POST", SHOW + "/audio/{studio}", mixerapi.audio, a.Mixer, b.AudioBody, errors=(503,)),
    E("GET", SHOW + "/audio", mixerapi.meters, a.Audio),
    E("GET", SHOW + "/products", cardsapi.list_products, a.ProductList, query=b.ProductsQuery),
    E("POST", SHOW + "/products/import", catalogueapi.import_products, a.Imported, CATALOGUE, errors=(413, 503)),
    E("GET", SHOW + "/rundown", catalogueapi.get_rundown, a.Rundown),
    E("PUT", SHOW + "/rundown", catalogueapi.put_rundown, a.Rundown, b.RundownBody, errors=(503,)),
    E("PATCH", PRODUCT, cardsapi.update_product, a.ProductAnswer, b.ProductPatch, errors=(409, 503)),
    E("POST", SHOW + "/cards", cardsapi.show_card, a.CardAnswer, b.CardBody, errors=(409, 503)),
    E("DELETE", SHOW + "/cards/{slot}", cardsapi.hide_card, a.Graphics, query=b.CardBusQuery, errors=(503,)),
    E("POST", SHOW + "/lower-third", cardsapi.show_lower_third, a.Graphics, b.LowerThirdBody, errors=(503,)),
    E("DELETE", SHOW + "/lower-third", cardsapi.hide_lower_third, a.Graphics, errors=(503,)),
    E("POST", SHOW + "/logo", cardsapi.set_logo, a.Graphics, b.OnOffBody, errors=(503,)),
    offer("/whep/{show}", whep.post, "the viewer session", "viewer", errors=(503,)),
    preflight("/whep/{show}", whep.options),
    E("DELETE", "/whep/{show}/{viewer}", whep.delete, auth="viewer"),
    E("PATCH", "/whep/{show}/{viewer}", whep.patch, status=405, auth="viewer"),
    preflight("/whep/{show}/{viewer}", whep.options),
    offer(SHOW + "/monitor", monitorapi.post_monitor, "the stream", errors=(503,)),
    E("DELETE", SHOW + "/monitor/{viewer}", monitorapi.delete_monitor, fuzz=False),
    offer(SHOW + "/solo/{studio}", monitorapi.post_solo, "the stream", errors=(503,)),
    E("DELETE", SHOW + "/solo/{studio}/{viewer}", monitorapi.delete_solo, fuzz=False),
    E("GET", SHOW + "/outputs", outputsapi.outputs, a.OutputList),
    E("GET", SHOW + "/outputs/rtmp", outputsapi.list_rtmp, a.DestinationList),
    E("POST", SHOW + "/outputs/rtmp", outputsapi.add_rtmp, a.RtmpDestination, b.RtmpBody, status=201, errors=(409,)),
    E("DELETE", SHOW + "/outputs/rtmp/{name}", outputsapi.remove_rtmp, a.Removed),
    E("GET", SHOW + "/recording", outputsapi.get_recording, a.Recording),
    E("POST", SHOW + "/recording", outputsapi.set_recording, a.Recording, b.OnOffBody),
    E("POST", SHOW + "/delay", outputsapi.set_delay, a.DelayChanged, b.DelayBody),
    E("POST", SHOW + "/dump", outputsapi.dump, a.Dumped, b.EmptyBody, errors=(409,)),
    E("POST", SHOW + "/programs", outputsapi.set_programs, a.ProgramsChanged, b.ProgramsBody),
    # Talk and listen: the hosts' return feeds, the crew's talkback (orchestrator/returnfeeds.py).
    offer("/return/{show}/{studio}", returnfeed.post, "the return feed", "join", errors=(409,)),
    E("DELETE", "/return/{show}/{studio}/{feed}", returnfeed.delete, auth="join"),
    preflight("/return/{show}/{studio}", returnfeed.options),
    preflight("/return/{show}/{studio}/{feed}", returnfeed.options),
    E("GET", SHOW + "/talkback", talkbackapi.status, a.TalkAndListen),
    offer(SHOW + "/talkback", talkbackapi.post, "the talkback", etag=False),
    E("POST", SHOW + "/talkback/{talk}", talkbackapi.key, a.TalkKeyed, b.TalkbackBody),
    E("DELETE", SHOW + "/talkback/{talk}", talkbackapi.delete, a.TalkClosed),
]

routes: list[web.RouteDef] = [endpoint.route for endpoint in ENDPOINTS]
