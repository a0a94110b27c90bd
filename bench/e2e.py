"""End to end: a candidate's hesitant reply → the HR alert arriving at the platform, and
the default `serve`'s ingest beside the bare app, in the same run.

    python -m bench.e2e [--quick] [--backend sqlite|postgres ...] [--platform wecom|feishu ...]
                        [--baseline DIR]

`offerbot serve` in its default mode (HTTP server + its worker as a child process:
bot/child_worker.py) runs as a subprocess; the WeCom/Feishu stand-in runs here and stamps
every arrival. Offers are set up through the ATS API for candidates with a platform id,
and their offer messages are delivered to the stand-in. Then N candidates answer
"我再考虑一下，薪资能否再谈" at the same moment (encrypted, signed callbacks), and for each
the time from sending the callback to the arrival of the HR alert naming them in the HR
group is measured: N = 1, 10, 100 concurrent conversations.

Then the same `serve` (its worker busy with what it acknowledges: every callback is a new
user's message, answered through the stand-in) and the bare aiohttp app answering
`success` (bench/bare_app.py) take the same loads of distinct encrypted callbacks, one
after the other, each frozen (SIGSTOP, with its children) while the other is measured:
the default-mode ingest ratio.
"""

from __future__ import annotations

import asyncio
import signal
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import date, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/e2e.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import psutil

from bench import backends, botconfig, cli, ingest, procs
from bench.payloads import builders
from bench.standin import FEISHU_HR_CHAT, WECOM_HR_CHAT, Standin

HESITANT = "我再考虑一下，薪资能否再谈"
LEVELS = (1, 10, 100)
QUICK_LEVELS = (1, 10)
HR_CHAT = {"wecom": WECOM_HR_CHAT, "feishu": FEISHU_HR_CHAT}
ID_FIELD = {"wecom": "wecom_user_id", "feishu": "feishu_open_id"}
ALERT_TIMEOUT = 60.0  # seconds a round may take before it counts as missed
INGEST_LOADS = (ingest.Load("rate", 1000, 3), ingest.Load("full", 50, 3))
INGEST_CAP = 20_000  # callbacks built per load: more than 3 s of the bare app at full speed
QUICK_INGEST_LOADS = (ingest.Load("rate", 200, 1), ingest.Load("full", 10, 1))


class Offer:
    def __init__(self, tag: str, user: str, offer_id: int):
        self.tag, self.user, self.offer_id = tag, user, offer_id


async def _post(api: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> dict[str, Any]:
    async with api.post(url, json=body) as resp:
        answer = await resp.json()
        if resp.status not in (200, 201):
            raise RuntimeError(f"{url}: {resp.status} {answer}")
        return answer


async def make_offers(base: str, platform: str, count: int, run: str) -> list[Offer]:
    """Requisition, candidates, applications and offers through the ATS API."""
    headers = {"Authorization": f"Bearer {botconfig.API_TOKEN}"}
    api_url = base + "/api/v1"
    async with aiohttp.ClientSession(headers=headers) as api:
        await _post(
            api,
            api_url + "/requisitions",
            {"external_id": f"req-{run}", "title": "后端工程师", "headcount": count},
        )
        start = (date.today() + timedelta(days=30)).isoformat()
        gate = asyncio.Semaphore(8)  # the API is not what is measured: keep it gentle

        async def one(k: int) -> Offer:
            tag = f"B{k:04d}"  # ASCII, so it is found however the body is escaped
            user = f"bench_{platform}_{run}_{k}"
            async with gate:
                person = {
                    "external_id": f"cand-{run}-{k}",
                    "name": f"测试{tag}",
                    "phone": f"139{k:08d}",
                    ID_FIELD[platform]: user,
                }
                candidate = await _post(api, api_url + "/candidates", person)
                application = await _post(
                    api,
                    api_url + "/applications",
                    {"candidate_id": candidate["id"], "requisition_external_id": f"req-{run}"},
                )
                offer = await _post(
                    api,
                    api_url + "/offers",
                    {
                        "application_id": application["id"],
                        "salary_monthly": "25000",
                        "start_date": start,
                        "channel": platform,
                    },
                )
            return Offer(tag, user, offer["id"])

        return await asyncio.gather(*(one(k) for k in range(count)))


def _percentile(values: list[float], p: float) -> float:
    data = sorted(values)
    return data[min(len(data) - 1, max(0, round(p / 100 * (len(data) - 1))))]


async def one_round(
    standin: Standin, base: str, platform: str, offers: list[Offer]
) -> dict[str, Any]:
    """All `offers` hesitate at once; latency per candidate until HR's alert arrives."""
    hr_chat = HR_CHAT[platform]
    make = builders(base)[platform]
    callbacks = [
        make.text(o.user, HESITANT) if platform == "wecom" else make.event(o.user, HESITANT)
        for o in offers
    ]
    first_arrival = len(standin.arrivals)
    sent_at: dict[str, float] = {}
    statuses: list[int] = []

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def send(offer: Offer, callback) -> None:
            method, url, headers, body = callback.request
            sent_at[offer.tag] = time.perf_counter()
            async with http.request(method, url, headers=headers, data=body) as resp:
                await resp.read()
                statuses.append(resp.status)

        await asyncio.gather(*(send(o, cb) for o, cb in zip(offers, callbacks, strict=True)))

    def alert_times() -> dict[str, float]:
        found: dict[str, float] = {}
        for arrival in standin.arrivals[first_arrival:]:
            if arrival.to != hr_chat:
                continue
            for offer in offers:
                if offer.tag not in found and offer.tag in arrival.body:
                    found[offer.tag] = arrival.at
        return found

    await standin.wait_until(lambda: len(alert_times()) == len(offers), ALERT_TIMEOUT)
    arrived = alert_times()
    latencies = [(arrived[o.tag] - sent_at[o.tag]) * 1000 for o in offers if o.tag in arrived]
    out: dict[str, Any] = {
        "conversations": len(offers),
        "acknowledged": sum(1 for s in statuses if s == 200),
        "alerts": len(latencies),
        "missed": len(offers) - len(latencies),
    }
    if latencies:
        out.update(
            p50_ms=round(_percentile(latencies, 50), 1),
            p95_ms=round(_percentile(latencies, 95), 1),
            max_ms=round(max(latencies), 1),
            mean_ms=round(statistics.fmean(latencies), 1),
        )
    return out


@contextmanager
def frozen(pid: int) -> Iterator[None]:
    """SIGSTOP a process and its children (serve: its worker, its embedded Redis) for the
    block, so it takes no CPU from the one being measured."""
    group = [psutil.Process(pid)]
    group += group[0].children(recursive=True)
    for p in group:
        p.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        for p in reversed(group):
            with suppress(psutil.NoSuchProcess):
                p.send_signal(signal.SIGCONT)


async def ingest_beside_bare(
    bot: procs.Process, bare: procs.Process, platform: str, loads: tuple[ingest.Load, ...]
) -> list[dict[str, Any]]:
    """Each load against the default `serve` and the bare app, the other one frozen."""
    rows = []
    for load in loads:
        pair = {}
        for target, proc, other in (("offerbot", bot, bare), ("bare", bare, bot)):
            callbacks = builders(proc.url)[platform].batch(min(load.count, INGEST_CAP))
            with frozen(other.pid):
                pair[target] = await ingest.send(load, callbacks, f"{platform} {load.label}")
        rows.append(ingest._row("default", platform, load, pair))
    return rows


async def run_backend(
    kind: str,
    workdir: Path,
    platform: str,
    levels: tuple[int, ...] = LEVELS,
    loads: tuple[ingest.Load, ...] = INGEST_LOADS,
    root: Path = procs.ROOT,
    serve_workers: int | None = None,
) -> dict[str, Any]:
    async with backends.backend(kind, workdir) as be:
        standin = await Standin().start()
        port = procs.free_port()
        config = botconfig.write(
            workdir / f"e2e-{kind}-{platform}.toml",
            be,
            port,
            platforms=(platform,),
            api_base_url=standin.url,
            serve_workers=serve_workers,
        )
        bot = procs.serve(config, port, workdir / f"e2e-{kind}-{platform}.log", root=root)
        bare = procs.bare(procs.free_port(), workdir / f"e2e-{kind}-bare.log")
        bot.start()
        bare.start()
        try:
            run = f"{int(time.time())}"
            offers = await make_offers(bot.url, platform, sum(levels), run)
            users = {o.user for o in offers}
            delivered = await standin.wait_until(
                lambda: users <= {a.to for a in standin.arrivals}, ALERT_TIMEOUT
            )
            if not delivered:
                raise RuntimeError(f"offers were not delivered:\n{bot.log_tail()}")
            await asyncio.sleep(1.0)  # the delivery hooks (timers armed) settle
            idle_mb = bot.rss_mb()
            rounds = []
            with procs.RssSampler(bot.pid) as rss:
                taken = 0
                for n in levels:
                    rounds.append(await one_round(standin, bot.url, platform, offers[taken:][:n]))
                    taken += n
            peak_mb = rss.peak_mb
            # Last: the backlog these leave the worker must not delay a round above.
            ingest_rows = await ingest_beside_bare(bot, bare, platform, loads) if loads else []
        except Exception:
            print(f"--- serve log ({root}) ---\n{bot.log_tail()}", file=sys.stderr)
            raise
        finally:
            bot.stop()
            bare.stop()
            await standin.close()
            procs.stop_embedded_redis(be.data_dir)
    return {
        "backend": kind,
        "label": backends.LABELS[kind]
        + ("" if root == procs.ROOT else f" ({root.name})")
        + ("" if serve_workers is None else f", serve_workers = {serve_workers}"),
        "platform": platform,
        "schema": be.schema,
        "rounds": rounds,
        "ingest": ingest_rows,
        "rss_idle_mb": round(idle_mb, 1),
        "rss_peak_mb": round(peak_mb, 1),
    }


async def run(
    workdir: Path,
    *,
    quick: bool = False,
    kinds: tuple[str, ...] = backends.KINDS,
    platforms: tuple[str, ...] = ("wecom", "feishu"),
    baseline: Path | None = None,
    serve_workers: int | None = None,
) -> list[dict[str, Any]]:
    """Every set-up and platform; with `baseline` (another source tree), that code's
    serve first, then this one's, each on a fresh set-up, in the same run.
    `serve_workers`: `[worker] serve_workers` for every serve (unset: the default)."""
    levels = QUICK_LEVELS if quick else LEVELS
    loads = QUICK_INGEST_LOADS if quick else INGEST_LOADS
    roots = ([baseline] if baseline else []) + [procs.ROOT]
    return [
        await run_backend(kind, workdir, platform, levels, loads, root, serve_workers)
        for kind in kinds
        for platform in platforms
        for root in roots
    ]


def markdown(results: list[dict[str, Any]]) -> str:
    out = [
        "| set-up | platform | conversations | p50 ms | p95 ms | max ms | alerts | serve RSS |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for res in results:
        for r in res["rounds"]:
            out.append(
                f"| {res['label']} | {res['platform']} | {r['conversations']} "
                f"| {r.get('p50_ms', '–')} | {r.get('p95_ms', '–')} | {r.get('max_ms', '–')} "
                f"| {r['alerts']}/{r['conversations']} "
                f"| {res['rss_idle_mb']} → {res['rss_peak_mb']} MB |"
            )
    rows = [(res, row) for res in results for row in res.get("ingest", [])]
    if rows:
        out += [
            "",
            "Default `serve` (worker in a child process, busy with what it acknowledges) "
            "beside the bare app, same run, each frozen while the other is measured:",
            "",
            "| set-up | platform | load | offerbot req/s | p50 ms | p99 ms | errors "
            "| bare req/s | bare p99 ms | ratio |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for res, row in rows:
            b, x = row["offerbot"], row["bare"]
            out.append(
                f"| {res['label']} | {row['platform']} | {row['load']} "
                f"| {b['req_per_s']:,.0f} | {b['p50_ms']} | {b['p99_ms']} | {b['errors']} "
                f"| {x['req_per_s']:,.0f} | {x['p99_ms']} | {row['ratio']:.0%} |"
            )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = cli.parser(__doc__, "1 and 10 conversations only")
    ap.add_argument("--platform", action="append", choices=("wecom", "feishu"))
    ap.add_argument(
        "--baseline",
        type=Path,
        help="also run the serve of this source tree (e.g. `git archive` of main) first",
    )
    ap.add_argument(
        "--serve-workers",
        type=int,
        help="[worker] serve_workers: how many worker children serve runs (default: 1)",
    )
    args = ap.parse_args(argv)
    platforms = tuple(args.platform or ("wecom", "feishu"))
    cli.run(
        args,
        lambda tmp: asyncio.run(
            run(
                tmp,
                quick=args.quick,
                kinds=cli.kinds(args),
                platforms=platforms,
                baseline=args.baseline,
                serve_workers=args.serve_workers,
            )
        ),
        markdown,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
