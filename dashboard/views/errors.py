"""Error answers: JSON with a message under /api/ (a script reads it), Django's pages elsewhere."""
from django.http import JsonResponse
from django.views import defaults

API_PREFIX = "/api/"
MESSAGES = {400: "bad request", 403: "not allowed", 404: "not found", 500: "server error"}


def _json(request, status: int, exception=None) -> JsonResponse:
    detail = str(exception) if exception is not None and status != 500 else ""
    # Django wraps a resolver miss's message in a dict; say plainly what was not found
    if status == 404 and (not detail or detail.startswith("{")):
        detail = f"no such endpoint or object: {request.path}"
    return JsonResponse({"error": detail or MESSAGES[status], "status": status}, status=status)


def bad_request(request, exception):
    if request.path.startswith(API_PREFIX):
        return _json(request, 400, exception)
    return defaults.bad_request(request, exception)


def permission_denied(request, exception):
    if request.path.startswith(API_PREFIX):
        return _json(request, 403, exception)
    return defaults.permission_denied(request, exception)


def page_not_found(request, exception):
    if request.path.startswith(API_PREFIX):
        return _json(request, 404, exception)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith(API_PREFIX):
        return _json(request, 500)
    return defaults.server_error(request)
