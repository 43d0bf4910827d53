from rest_framework.routers import SimpleRouter

from contacts.api.views import (
    AssignmentRuleViewSet, ContactCompanyViewSet, ContactRelationshipViewSet, ContactViewSet, FormLayoutViewSet,
)

router = SimpleRouter()
router.register("contacts", ContactViewSet, basename="contact")
router.register("contact-companies", ContactCompanyViewSet, basename="contact-company")
router.register("relationships", ContactRelationshipViewSet, basename="relationship")
router.register("form-layouts", FormLayoutViewSet, basename="form-layout")
router.register("assignment-rules", AssignmentRuleViewSet, basename="assignment-rule")
