"""Requests no view should see: a NUL character in the path, the query or a form field answers
400 with a sentence (PostgreSQL refuses NUL in text, so a token with one was a server error)."""
from django.http import HttpResponseBadRequest, JsonResponse


def refuse_nul_characters(get_response):
    def middleware(request):
        fields = [("the address", request.path)]
        fields += [(f"the query parameter {k!r}", v) for k, values in request.GET.lists() for v in [k, *values]]
        if request.method == "POST":
            fields += [(f"the field {k!r}", v) for k, values in request.POST.lists() for v in [k, *values]]
        for where, value in fields:
            if "\x00" in value:
                message = f"{where} contains a NUL character; remove it and try again."
                if request.path.startswith("/api/"):
                    return JsonResponse({"error": message, "status": 400}, status=400)
                return HttpResponseBadRequest(message, content_type="text/plain")
        return get_response(request)

    return middleware
