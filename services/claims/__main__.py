from services.claims.app import service

service.main()
