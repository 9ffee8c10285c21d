"""The OpenAPI document and the /docs form, both generated from the model's input schema."""

from __future__ import annotations

import html
import json
from typing import Any

_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string"},
            },
        }
    },
}


def openapi(app: Any) -> dict[str, Any]:
    schema = app.schema
    response: dict[str, Any] = {
        "type": "object",
        "properties": {
            "predictions": {"type": "array", "items": {}},
            "model": {"type": "string"},
            "version": {"type": ["integer", "string", "null"]},
        },
        "required": ["predictions", "model"],
    }
    if app.model.task == "classification":
        response["properties"]["probabilities"] = {
            "type": "array",
            "items": {"type": "array", "items": {"type": "number"}},
        }
        response["properties"]["classes"] = {"type": "array", "items": {}}
    errors = {
        str(code): {"description": text, "content": {"application/json": {"schema": _ERROR}}}
        for code, text in (
            (400, "The body is not JSON."),
            (401, "Missing or wrong API key."),
            (413, "The body or the number of rows is too large."),
            (422, "An input does not match the schema; error.field names it."),
            (429, "Too many requests are waiting; retry after Retry-After seconds."),
            (503, "Shutting down."),
            (504, "The prediction timed out."),
        )
    }
    security: list[dict[str, list[str]]] = [] if app.key_hash is None else [{"bearer": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{app.name} (Lepton)", "version": str(app.version)},
        "components": {
            "schemas": {
                "PredictRequest": schema.request_schema(),
                "PredictResponse": response,
                "Error": _ERROR,
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/v1/predict": {
                "post": {
                    "summary": f"Predict with {app.name}",
                    "security": security,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/PredictRequest"}
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "Predictions, in the order of the inputs.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/PredictResponse"}
                                }
                            },
                        },
                        **errors,
                    },
                }
            },
            "/v1/model": {
                "get": {
                    "summary": "Model metadata and schema",
                    "security": security,
                    "responses": {"200": {"description": "Metadata"}},
                }
            },
            "/healthz": {
                "get": {"summary": "Alive", "responses": {"200": {"description": "Alive"}}}
            },
            "/readyz": {
                "get": {
                    "summary": "Model loaded and accepting requests",
                    "responses": {
                        "200": {"description": "Ready"},
                        "503": {"description": "Not ready"},
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "security": security,
                    "responses": {"200": {"description": "Prometheus text"}},
                }
            },
        },
    }


_INPUT_TYPES = {"numeric": "number", "boolean": "checkbox"}


def docs_page(app: Any) -> str:
    """A form generated from the input schema that sends a real prediction (no external JS)."""
    schema = app.schema
    fields = []
    if schema.kind == "table":
        for column, kind in zip(schema.columns, schema.types, strict=True):
            input_type = _INPUT_TYPES.get(kind, "text")
            step = ' step="any"' if input_type == "number" else ""
            fields.append(
                f"<label>{html.escape(column)} <small>({html.escape(kind)})</small>"
                f'<input name="{html.escape(column)}" data-kind="{html.escape(kind)}" type="{input_type}"{step}></label>'
            )
    elif schema.kind == "texts":
        fields.append(
            f'<label>{html.escape(schema.columns[0])}<textarea name="{html.escape(schema.columns[0])}" data-kind="text"></textarea></label>'
        )
    else:
        fields.append(
            '<label>image <input name="image" type="file" accept="image/*" data-kind="image"></label>'
        )
    key_field = (
        ""
        if app.key_hash is None
        else '<label>API key <input id="key" type="password" autocomplete="off"></label>'
    )
    script = """
async function send(event){event.preventDefault();const form=event.target;const record={};let image=null;
for(const el of form.querySelectorAll('[data-kind]')){const k=el.dataset.kind;
 if(k==='image'){image=el.files[0];continue}
 if(k==='boolean'){record[el.name]=el.checked;continue}
 if(el.value===''){record[el.name]=null;continue}
 record[el.name]=k==='numeric'?Number(el.value):el.value}
if(image){const bytes=new Uint8Array(await image.arrayBuffer());let s='';for(const b of bytes)s+=String.fromCharCode(b);record.image=btoa(s)}
const headers={'content-type':'application/json'};const key=document.getElementById('key');
if(key&&key.value)headers.authorization='Bearer '+key.value;
const r=await fetch('/v1/predict',{method:'POST',headers,body:JSON.stringify({inputs:[record]})});
document.getElementById('out').textContent=r.status+'\\n'+JSON.stringify(await r.json(),null,2)}
document.getElementById('form').addEventListener('submit',send);
"""
    spec = html.escape(json.dumps(openapi(app), indent=2))
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(app.name)} - Lepton</title><style>body{{font-family:system-ui,sans-serif;max-width:900px;margin:2rem auto;padding:0 1rem}}
label{{display:block;margin:.4rem 0}}input,textarea{{margin-left:.5rem}}pre{{background:#f6f8fa;padding:1rem;overflow:auto}}</style></head>
<body><h1>{html.escape(app.name)} <small>version {html.escape(str(app.version))}</small></h1>
<p>POST <code>/v1/predict</code> with <code>{{"inputs": [...]}}</code>. Try it:</p>
<form id="form">{"".join(fields)}{key_field}<button type="submit">Predict</button></form>
<h2>Response</h2><pre id="out">(none yet)</pre>
<details><summary>OpenAPI document</summary><pre>{spec}</pre></details>
<script>{script}</script></body></html>"""
