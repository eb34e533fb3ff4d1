import asyncio

from services.claims.app import service

asyncio.run(service.app().run())
