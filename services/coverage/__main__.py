from services.coverage.app import service

service.main()
