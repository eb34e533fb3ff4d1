import asyncio

from services.coverage.app import service

asyncio.run(service.app().run())
