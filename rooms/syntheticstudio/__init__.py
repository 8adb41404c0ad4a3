"""A synthetic studio: a test picture and a tone published over WHIP, like a remote room would.

Used by ``broadcast demo``, by the benchmarks and by end-to-end tests. It publishes through
FFmpeg's ``whip`` muxer (PyAV), so the server is exercised by a real, independent WebRTC stack.

* :mod:`rooms.syntheticstudio.studio`: :class:`SyntheticStudio`, what it publishes and the
  real-time pacing;
* :mod:`rooms.syntheticstudio.whipmuxer`: the muxer's facts and quirks (errors, a close that
  never hangs);
* :mod:`rooms.syntheticstudio.commandline`: ``python -m rooms.syntheticstudio``, and
  :func:`spawn_studio`, which starts one as a process of its own (it must not share the
  server's process: the muxer's handshake holds the GIL).
"""

from rooms.syntheticstudio.commandline import build_parser, main, parse_args, spawn_studio
from rooms.syntheticstudio.studio import PublishError, SyntheticStudio

__all__ = ["PublishError", "SyntheticStudio", "build_parser", "main", "parse_args", "spawn_studio"]
