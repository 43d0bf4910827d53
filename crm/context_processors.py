from crm.permissions import Scope


def kith(request):
    user = getattr(request, "user", None)
    scope = Scope.of(user) if user is not None else None
    return {"kith_scope": scope}
