from services.lookup.app import service

service.main()
