from services.activation.app import service

service.main()
