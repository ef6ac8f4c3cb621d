"""Row ids as they come in addresses and fields: whole numbers a database column can hold. A
larger one names no row (SQLite raised OverflowError on it)."""
from django.urls import register_converter

ID_MAX = 2 ** 63 - 1


def parse_id(value) -> int | None:
    """The id in `value`, or None when it is not a whole number from 0 to ID_MAX."""
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return n if 0 <= n <= ID_MAX else None


class IdConverter:
    """`<id:pk>`: like `<int:pk>`, but at most 18 digits, so every match fits a 64-bit column."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value) -> str:
        return str(int(value))


register_converter(IdConverter, "id")
