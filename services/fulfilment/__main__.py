from services.fulfilment.app import service

service.main()
