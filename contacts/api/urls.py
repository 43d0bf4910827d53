from rest_framework.routers import SimpleRouter

from contacts.api.views import (
    AssignmentRuleViewSet, BulkOperationViewSet, ContactCompanyViewSet, ContactRelationshipViewSet, ContactViewSet,
    FormLayoutViewSet,
)

router = SimpleRouter()
router.register("contacts", ContactViewSet, basename="contact")
router.register("contact-companies", ContactCompanyViewSet, basename="contact-company")
router.register("relationships", ContactRelationshipViewSet, basename="relationship")

from contacts.api.segments import SavedViewViewSet, SegmentViewSet  # noqa: E402

router.register("segments", SegmentViewSet, basename="segment")
router.register("saved-views", SavedViewViewSet, basename="saved-view")
router.register("bulk-operations", BulkOperationViewSet, basename="bulk-operation")
router.register("form-layouts", FormLayoutViewSet, basename="form-layout")
router.register("assignment-rules", AssignmentRuleViewSet, basename="assignment-rule")

from contacts.api.imports import ContactImportViewSet, ImportMappingViewSet  # noqa: E402

router.register("imports", ContactImportViewSet, basename="contact-import")
router.register("import-mappings", ImportMappingViewSet, basename="import-mapping")

from contacts.api.exports import ExportViewSet  # noqa: E402

router.register("exports", ExportViewSet, basename="export")

from contacts.api.duplicates import (  # noqa: E402
    CompanyDuplicateViewSet, ContactDuplicateViewSet, DuplicateScanViewSet,
)

router.register("duplicates", ContactDuplicateViewSet, basename="duplicate")
router.register("company-duplicates", CompanyDuplicateViewSet, basename="company-duplicate")
router.register("duplicate-scans", DuplicateScanViewSet, basename="duplicate-scan")

from contacts.api.privacy import PrivacyRequestViewSet, TombstoneViewSet  # noqa: E402

router.register("privacy-requests", PrivacyRequestViewSet, basename="privacy-request")
router.register("privacy-tombstones", TombstoneViewSet, basename="privacy-tombstone")
