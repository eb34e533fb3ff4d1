import asyncio

from services.lookup.app import service

asyncio.run(service.app().run())
