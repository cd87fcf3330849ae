#!/usr/bin/python3
"""A real RTSP test camera: GStreamer's RTSP server streaming an H.264 test pattern.

Run it with Debian's own interpreter, which can import ``gi`` (the project's venv cannot)::

    /usr/bin/python3 tests/cameras/rtsp_camera.py --port 0

Once it is serving it prints one JSON line on stdout, e.g.
``{"port": 12345, "url": "rtsp://127.0.0.1:12345/stream"}``; everything else goes to stderr.

Stalling (for recording-watchdog tests): ``--stall-after SECONDS`` stops the video that many seconds
after the camera starts serving; SIGUSR1 stalls and SIGUSR2 resumes at any time. While stalled the
camera still answers RTSP requests (DESCRIBE, SETUP, PLAY succeed) and keeps sessions and their TCP
connections open, but sends no RTP packets: only an RTCP report every few seconds, as real cameras do.
On resume the video goes on with a keyframe.

``--audio pcmu|aac`` adds an audio track (G.711 µ-law at 8 kHz, or AAC at 16 kHz; a 440 Hz tone),
the two codecs IP cameras use most; stalling stops the video only.

``--no-sprop``: the SDP (DESCRIBE's answer) leaves out sprop-parameter-sets, as some cameras do: the
H.264 parameter sets then come only in band, before each keyframe, so a client learns the picture
size only from the stream itself.

Needs: gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 python3-gst-1.0 gstreamer1.0-plugins-{base,good,bad,ugly}
(see GST_APT_PACKAGES in videorec_testing/cameras.py).
"""

import argparse
import json
import re
import signal
import sys
import warnings

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer, GstVideo  # noqa: E402

ROLE = "camera-user"
# The audio branch of the pipeline for each --audio codec: a tone, encoded and payloaded as pay1.
AUDIO = {
    "pcmu": "audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay name=pay1 pt=0",
    "aac": "audio/x-raw,rate=16000,channels=1 ! voaacenc bitrate=32000 ! rtpmp4gpay name=pay1 pt=97",
}


def _is_rtpbin(element: Gst.Element) -> bool:
    return element.get_factory().get_name() == "rtpbin"


def log(message: str) -> None:
    print(f"rtsp_camera: {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--path", default="/stream")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=360)
    p.add_argument("--fps", type=int, default=15)
    p.add_argument("--bitrate", type=int, default=800, help="kbit/s")
    p.add_argument("--pattern", default="smpte", help="videotestsrc pattern, e.g. smpte, ball, snow")
    p.add_argument("--no-overlay", action="store_true", help="omit the running-time overlay")
    p.add_argument("--user", help="require RTSP authentication with this user")
    p.add_argument("--password", default="")
    p.add_argument("--auth-method", choices=["basic", "digest"], default="basic")
    p.add_argument("--stall-after", type=float, help="stop sending video this many seconds after start-up")
    p.add_argument("--audio", choices=["none", *AUDIO], default="none", help="add an audio track")
    p.add_argument("--keyframe-interval", type=float, default=1.0, help="seconds between keyframes")
    p.add_argument("--bframes", type=int, default=0, help="B-frames between reference frames")
    p.add_argument("--no-sprop", action="store_true", help="leave sprop-parameter-sets out of the SDP")
    args = p.parse_args(argv)
    if not args.path.startswith("/"):
        args.path = "/" + args.path
    return args


def launch_line(args: argparse.Namespace) -> str:
    # threads=1: with tune=zerolatency more threads means sliced frames, which ffmpeg mis-splits when
    # rtph264pay re-sends SPS/PPS with every IDR (config-interval=-1). A keyframe every second (the
    # default) keeps a joining client's wait short.
    overlay = "" if args.no_overlay else 'timeoverlay font-desc="Sans 24" ! '
    # B-frames need the encoder's look-ahead, which zerolatency turns off.
    # (The payloader would otherwise negotiate constrained-baseline, which has none.)
    encoding = "bframes=0 tune=zerolatency "
    if args.bframes:
        encoding = f"bframes={args.bframes} b-adapt=false ! video/x-h264,profile=main "
    audio = ""
    if args.audio != "none":
        audio = f" audiotestsrc is-live=true wave=sine freq=440 ! audioconvert ! audioresample ! {AUDIO[args.audio]}"
    return (
        f"( videotestsrc is-live=true pattern={args.pattern} "
        f"! video/x-raw,width={args.width},height={args.height},framerate={args.fps}/1 "
        f"! {overlay}valve name=stall drop=false ! videoconvert "
        f"! x264enc name=encoder threads=1 key-int-max={max(1, round(args.fps * args.keyframe_interval))} speed-preset=ultrafast "
        f"bitrate={args.bitrate} {encoding}"
        f"! h264parse "
        f"! rtph264pay name=pay0 pt=96 config-interval=-1{audio} )"
    )


class Camera:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stalled = False
        # Prepared medias: a shared factory still builds a new one when the last client has left
        # and another comes.
        self.medias: list[GstRtspServer.RTSPMedia] = []
        self.loop = GLib.MainLoop()
        self.server = GstRtspServer.RTSPServer()
        self.server.set_address(args.host)
        self.server.set_service(str(args.port))

        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch_line(args))
        # One encoder for every client, like a real camera. CLOCK_AND_OFFSET stops a new client's
        # PLAY (ffmpeg sends "Range: npt=0-") from seeking the shared media, which would reset the
        # timestamps of clients that are already watching.
        factory.set_shared(True)
        factory.set_publish_clock_mode(GstRtspServer.RTSPPublishClockMode.CLOCK_AND_OFFSET)
        factory.connect("media-configure", self.on_media_configure)
        if args.user:
            self.setup_auth(factory)
        self.server.get_mount_points().add_factory(args.path, factory)
        # Tests count these lines to prove a frame came from a reader already open, not a new grab
        # (a status probe only sends DESCRIBE, so it never plays).
        self.server.connect("client-connected", self.on_client_connected)

    def on_client_connected(
        self, _server: GstRtspServer.RTSPServer, client: GstRtspServer.RTSPClient
    ) -> None:
        played: list[bool] = []

        def on_play(_client: GstRtspServer.RTSPClient, _context: object) -> None:
            played.append(True)
            log("play")

        client.connect("play-request", on_play)
        # A client that played and left: tests count the sessions open now as plays - stops.
        client.connect("closed", lambda _client: log("stopped") if played else None)
        if self.args.no_sprop:
            # The introspection data names an RTSPSession as the signal's first argument where the
            # server passes its RTSPContext: GLib warns once per message about the (unused) session.
            warnings.filterwarnings("ignore", message="g_value_get_object")
            client.connect("send-message", self.strip_sprop)

    @staticmethod
    def strip_sprop(
        _client: GstRtspServer.RTSPClient, _session: object, message: GstRtsp.RTSPMessage
    ) -> None:
        # The SDP is the body of DESCRIBE's answer; the connection writes Content-Length from the
        # body when it sends the message, so replacing the body is enough.
        result, body = message.get_body()
        if result != GstRtsp.RTSPResult.OK or not body or b"sprop-parameter-sets=" not in bytes(body):
            return
        message.set_body(re.sub(rb"sprop-parameter-sets=[^;\r\n]*;?", b"", bytes(body)))

    def setup_auth(self, factory: GstRtspServer.RTSPMediaFactory) -> None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, ROLE)
        if self.args.auth_method == "digest":
            auth.add_digest(self.args.user, self.args.password, token)
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        else:
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(self.args.user, self.args.password), token)
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
        # No default token: unauthenticated clients get no role and are refused with 401.
        self.server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role(ROLE, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
        permissions.add_permission_for_role(ROLE, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
        factory.set_permissions(permissions)

    def on_media_configure(
        self, _factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia
    ) -> None:
        media.connect("prepared", self.on_media_prepared)
        log("media configured")

    def on_media_prepared(self, media: GstRtspServer.RTSPMedia) -> None:
        # To stall, a valve before the encoder stops the frames, so the stream goes on cleanly after
        # a resume (no sequence-number gap, no lost references). But the server must see one RTP
        # buffer while preparing (DESCRIBE and PLAY need it): it holds that buffer after rtpbin, so a
        # closed valve would leave a camera stalled from the start hanging in DESCRIBE. So the valve
        # only closes once the media is prepared, and a probe behind the hold drops what got through.
        rtpbin = next(e for e in media.get_element().get_parent().iterate_elements() if _is_rtpbin(e))
        rtpbin.get_static_pad("send_rtp_src_0").add_probe(
            Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST,
            lambda _pad, _info: Gst.PadProbeReturn.DROP if self.stalled else Gst.PadProbeReturn.OK,
        )
        media.get_element().get_by_name("stall").set_property("drop", self.stalled)
        self.medias.append(media)
        media.connect("unprepared", self.medias.remove)

    def set_stalled(self, stalled: bool) -> None:
        self.stalled = stalled
        for media in self.medias:
            element = media.get_element()
            element.get_by_name("stall").set_property("drop", stalled)
            if not stalled:  # clients may have missed frames the next ones refer to
                keyframe = GstVideo.video_event_new_upstream_force_key_unit(Gst.CLOCK_TIME_NONE, True, 0)
                element.get_by_name("encoder").get_static_pad("src").send_event(keyframe)
        log("stalled" if stalled else "resumed")

    def stall_once(self) -> bool:
        self.set_stalled(True)
        return GLib.SOURCE_REMOVE

    def on_signal(self, signum: int) -> bool:
        if signum in (signal.SIGUSR1, signal.SIGUSR2):
            self.set_stalled(signum == signal.SIGUSR1)
            return GLib.SOURCE_CONTINUE
        log("stopping")
        self.loop.quit()
        return GLib.SOURCE_REMOVE

    def announce(self) -> bool:
        port = self.server.get_bound_port()
        url = f"rtsp://{self.args.host}:{port}{self.args.path}"
        print(json.dumps({"port": port, "url": url}), flush=True)
        log(f"serving {url}")
        return GLib.SOURCE_REMOVE

    def run(self) -> None:
        # Fail at start-up, not on the first client, when an element is missing.
        Gst.parse_launch(launch_line(self.args).strip("() ")).set_state(Gst.State.NULL)
        if not self.server.attach(None):  # binds and listens; 0 means it could not
            sys.exit(f"rtsp_camera: cannot listen on {self.args.host}:{self.args.port} (port in use?)")
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2):
            GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, self.on_signal, signum)
        if self.args.stall_after is not None:
            GLib.timeout_add(int(self.args.stall_after * 1000), self.stall_once)
        GLib.idle_add(self.announce)  # print the ready line only once the loop accepts clients
        self.loop.run()


def main() -> None:
    Gst.init(None)
    Camera(parse_args()).run()


if __name__ == "__main__":
    main()
