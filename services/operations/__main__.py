from services.operations.app import service

service.main()
