import asyncio, logging, sys, tempfile
from pathlib import Path
from bench import reply_cost as rc

class P(logging.Handler):
    def __init__(self): super().__init__(logging.DEBUG); self.on=False; self.n=0
    def emit(self, r):
        if self.on and not rc.COUNTER.paused:
            self.n+=1; print(self.n, r.getMessage()[:260])
h=P()
async def main(kind):
    from bench import backends
    from bot.compose import start_runtime
    from bot import queue
    tmp=Path(tempfile.mkdtemp())
    async with backends.backend(kind, tmp) as be:
        rt = await start_runtime(be.settings().replace(company={"quiet_hours": []}), migrate=False)
        users = await rc._make_offers(rt, 2, "x1")
        await rc._run_worker(rt)
        log=logging.getLogger(rc.SQL_LOGGER); log.setLevel(logging.DEBUG); log.propagate=False; log.addHandler(rc.COUNTER); log.addHandler(h)
        h.on=True
        msg = sys.argv[2] if len(sys.argv)>2 else rc.HESITANT
        from bot.channels.base import Inbound
        import uuid
        await rc.store_inbound(rt, Inbound(platform="web", event_id=uuid.uuid4().hex, sender_id=users[0], text=msg))
        await rc._run_worker(rt)
        h.on=False
        await rt.close(); queue.stop_embedded_redis()
asyncio.run(main(sys.argv[1]))
