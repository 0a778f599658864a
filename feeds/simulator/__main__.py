"""``python -m feeds.simulator``: run the demo city until Ctrl-C, logging a summary each minute."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from feeds.simulator.server import start_simulator
from ioc.city.pack import load_pack
from ioc.config import GEODATA_DIR

log = logging.getLogger("feeds.simulator")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    pack_dir = Path(args.pack) if "/" in args.pack else GEODATA_DIR / args.pack
    mqtt = _host_port(args.mqtt) if args.mqtt else None
    handle = start_simulator(
        load_pack(pack_dir), host=args.host, port=args.port, speed=args.speed, scenario=args.scenario,
        seed=args.seed, backfill_hours=args.backfill_hours, mqtt=mqtt,
    )
    print(f"demo city at {handle.base_url} (Ctrl-C stops)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(60):
            log.info("summary %s", handle.world.summary())
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m feeds.simulator", description=__doc__)
    p.add_argument("--pack", default="dongguan", help="city pack name under geodata/, or a path")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8060)
    p.add_argument("--speed", type=float, default=1.0, help="sim seconds per real second")
    p.add_argument("--scenario", choices=("normal", "typhoon"), default="normal")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--backfill-hours", type=float, default=6.0)
    p.add_argument("--mqtt", default=None, metavar="HOST:PORT", help="also publish readings to this broker")
    return p


def _host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"--mqtt: expected HOST:PORT, got {value!r}")
    return host, int(port)


if __name__ == "__main__":
    sys.exit(main())
