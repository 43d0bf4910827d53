from rest_framework.routers import SimpleRouter

from messaging.api.views import MessageViewSet, SmsTemplateViewSet

router = SimpleRouter()
router.register("messages", MessageViewSet, basename="message")
router.register("sms-templates", SmsTemplateViewSet, basename="sms-template")
