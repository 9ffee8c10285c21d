"""Image uploads as multipart/form-data: each file part becomes one input image."""

from __future__ import annotations

from typing import Any

from lepton.serving._schema import RequestError


def images_from_multipart(content_type: bytes, body: bytes) -> list[Any]:
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise RequestError(400, "multipart/form-data needs a boundary in its Content-Type.")
    images: list[bytes] = []
    current: list[bytes] = []

    def on_part_begin() -> None:
        current.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        current.append(data[start:end])

    def on_part_end() -> None:
        if current:
            images.append(b"".join(current))

    parser = MultipartParser(
        boundary,
        {"on_part_begin": on_part_begin, "on_part_data": on_part_data, "on_part_end": on_part_end},
    )
    parser.write(body)
    parser.finalize()
    if not images:
        raise RequestError(
            422, "The multipart body holds no file; send each image as a file part.", "image"
        )
    return images
