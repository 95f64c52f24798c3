"""`python -m server`: the generator process. One JSON request per line on stdin, one event per line on
stdout (see server/protocol.py); logs go to stderr. End of input or SIGTERM ends it cleanly."""

import argparse
import logging
import signal
import sys
import threading

from . import protocol
from .engine import Engine, ModelSource

log = logging.getLogger("intermask.server")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m server", description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a model folder in our format (default: the embedded model)")
    parser.add_argument("--official", help="an official InterMask checkpoints/ folder instead")
    parser.add_argument("--official-name", default="trans_default")
    parser.add_argument("--which", default="best_fid", help="official transformer file: latest, best_fid, ...")
    parser.add_argument("--stats", help="folder with the official global_mean.npy / global_std.npy")
    parser.add_argument("--clip", help="folder of the CLIP ViT-L/14@336px text tower (Hugging Face format)")
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "mps", "cpu"])
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    parser.add_argument("--preload", action="store_true", help="load the model before the first request")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="[intermask-server] %(message)s")

    out = sys.stdout.buffer
    write_lock = threading.Lock()

    def emit(event):
        line = protocol.dumps(event).encode("utf-8")
        with write_lock:
            out.write(line)
            out.flush()

    source = ModelSource(args.model, args.official, args.official_name, args.which, args.stats, args.clip)
    try:
        engine = Engine(emit, source, args.device, args.threads)
    except RuntimeError as error:
        log.error("%s", error)
        return 2
    if args.preload:
        engine.preload()

    def terminate(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, terminate)
    log.info("ready: protocol %d, device %s, model %s", protocol.VERSION, engine.device, source.describe())
    stdin = sys.stdin.buffer
    try:
        while not engine.stopping:
            raw = stdin.readline(protocol.MAX_LINE_BYTES + 1)
            if not raw:
                break  # end of input: the client is gone
            if not raw.strip():
                continue
            if len(raw) > protocol.MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):  # drop the rest of the oversized line
                    raw = stdin.readline(protocol.MAX_LINE_BYTES)
                emit(protocol.error_event(None, "bad_request", f"line exceeds {protocol.MAX_LINE_BYTES} bytes"))
                continue
            try:
                engine.submit(protocol.parse_line(raw.rstrip(b"\r\n")))
            except protocol.ProtocolError as error:
                emit(error.event())
            except Exception as error:  # a request must never take the process down
                log.exception("unexpected error while reading a request")
                emit(protocol.error_event(None, "internal", f"{type(error).__name__}: {error}"))
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        engine.stop()
        engine.join(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
