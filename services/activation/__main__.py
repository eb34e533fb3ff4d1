import asyncio

from services.activation.app import service

asyncio.run(service.app().run())
