from rest_framework.routers import SimpleRouter

from activities.api.views import ActivityViewSet, NotificationViewSet

router = SimpleRouter()
router.register("activities", ActivityViewSet, basename="activity")
router.register("notifications", NotificationViewSet, basename="notification")
