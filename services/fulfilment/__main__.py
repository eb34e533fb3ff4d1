import asyncio

from services.fulfilment.app import service

asyncio.run(service.app().run())
