"""Calibration: Bridge checks a Dragonfish install against what the connector will send.

Dragonfish installs differ by version, and each serves its own Swagger 2.0 document at
`{Endpoint}swagger.json`: the authority for that install. Every path and field the
connector relies on is looked for there; then the records the settings name (price list,
Motivo, e-commerce platform, template customer) and the fiscal codes are looked up in the
install's own tables. Each point is one Finding; a mismatch that would make writes wrong
(a missing field, an unknown code, a code that means something else) blocks writes until a
new calibration passes. An install without swagger.json is a warning, not a failure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bridge.errors import BridgeError, ConfigError
from bridge.fiscal import TaxCondition
from bridge.http import decode_json, looks_html
from bridge.model import Finding, FindingStatus
from connectors.dragonfish.answers import field, fold, name_key, same_code, text

if TYPE_CHECKING:
    from connectors.dragonfish.client import DragonfishClient

# entity -> (fields whose absence blocks writes, fields that would only be ignored)
CUSTOMER_FIELDS = (
    ("Codigo", "Nombre", "Cuit", "NroDocumento", "TipoDocumento", "SituacionFiscal"),
    (
        "Email",
        "Movil",
        "Calle",
        "Numero",
        "Piso",
        "Localidad",
        "CodigoPostal",
        "Provincia",
        "ListaDePrecio",
        "Vendedor",
    ),
)
PEDIDO_FIELDS = (("Cliente", "Motivo", "Obs", "FacturaDetalle"), ("ListaDePrecios", "Vendedor"))
PEDIDO_LINE = (("Articulo", "Color", "Talle", "Cantidad", "Precio"), ())
OPERATION_FIELDS = (
    ("Ecommerce", "Numero", "ClienteDragon", "PublicacionDetalle"),
    ("CompAfec", "ClienteEcom", "Obs", "Total", "TipoComprobante"),
)
OPERATION_LINE = (("Articulo", "Color", "Talle", "Cantidad", "Precio"), ("Monto", "Descuento"))
LIST_FIELDS = (("Codigo", "Nombre"), ())


def _finding(
    subject: str,
    status: FindingStatus,
    code: str,
    message: str,
    setting: str = "",
    blocks: bool = False,
    **params: Any,
) -> Finding:
    return Finding(
        subject,
        status,
        code,
        message,
        setting,
        blocks and status == "error",
        tuple((k, str(v)) for k, v in params.items()),
    )


class Swagger:
    """The little of a Swagger 2.0 document that calibration reads: which entity paths
    exist and the properties of each entity's definition (through `$ref`, `allOf` and
    array `items`)."""

    def __init__(self, doc: Mapping[str, Any], endpoint: str = "") -> None:
        self.doc = doc
        paths = field(doc, "paths")
        self.paths: dict[str, Any] = dict(paths) if isinstance(paths, Mapping) else {}
        defs = field(doc, "definitions")
        self.definitions: dict[str, Any] = dict(defs) if isinstance(defs, Mapping) else {}
        # a path may carry the base path or the endpoint's own path ("/api.Dragonfish/...")
        self._prefixes = {
            seg.lower()
            for where in (text(doc, "basePath"), urlsplit(endpoint).path)
            for seg in where.split("/")
            if seg
        }

    def _segments(self, path: Any) -> list[str]:
        segs = [seg.lower() for seg in str(path).split("/") if seg]
        while segs and segs[0] in self._prefixes:
            segs.pop(0)
        return segs

    def _entity_paths(self, entity: str) -> list[Any]:
        want = entity.strip("/").lower()
        return [op for path, op in self.paths.items() if self._segments(path)[:1] == [want]]

    def has(self, entity: str) -> bool:
        return bool(self._entity_paths(entity))

    def _ref(self, schema: Any) -> Mapping[str, Any] | None:
        """The object schema meant (an array's items), if it describes any property."""
        if not isinstance(schema, Mapping):
            return None
        if isinstance(field(schema, "items"), Mapping):
            return self._ref(field(schema, "items"))
        return schema if self.properties(schema) else None

    def definition(self, name: str) -> Mapping[str, Any] | None:
        for key, value in self.definitions.items():
            if str(key).lower() == name.lower() and isinstance(value, Mapping):
                return value
        return None

    def entity_definition(self, entity: str) -> Mapping[str, Any] | None:
        """The definition a POST to the entity takes (its body's schema), else the one
        named like the entity."""
        for ops in self._entity_paths(entity):
            post = field(ops, "post")
            for param in field(post, "parameters") or []:
                if fold(text(param, "in")) == "body":
                    found = self._ref(field(param, "schema"))
                    if found is not None:
                        return found
        return self._ref(self.definition(entity.strip("/")))

    def properties(self, schema: Mapping[str, Any] | None, depth: int = 0) -> dict[str, Any]:
        """The properties of a schema, lower-cased, with those of its `$ref` and `allOf`."""
        if depth > 8 or not isinstance(schema, Mapping):
            return {}
        out: dict[str, Any] = {}
        ref = field(schema, "$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            out.update(self.properties(self.definition(ref.split("/")[-1]), depth + 1))
        for member in field(schema, "allOf") or []:
            out.update(self.properties(member, depth + 1))
        props = field(schema, "properties")
        if isinstance(props, Mapping):
            out.update({str(k).lower(): v for k, v in props.items()})
        return out

    def detail(self, definition: Mapping[str, Any] | None, prop: str) -> Mapping[str, Any] | None:
        return self._ref(self.properties(definition).get(prop.lower()))


def _field_findings(
    entity: str, props: Mapping[str, Any], needs: tuple[Iterable[str], Iterable[str]], setting: str
) -> list[Finding]:
    required, optional = needs
    out = []
    for name in required:
        if name.lower() not in props:
            out.append(
                _finding(
                    f"{entity}.{name}",
                    "error",
                    "field_missing",
                    f"this install's {entity} has no field '{name}', which Bridge sends",
                    setting,
                    blocks=True,
                    entity=entity,
                    field=name,
                )
            )
    for name in optional:
        if name.lower() not in props:
            out.append(
                _finding(
                    f"{entity}.{name}",
                    "warning",
                    "field_ignored",
                    f"this install's {entity} has no field '{name}': Bridge's value for it will "
                    "be ignored",
                    entity=entity,
                    field=name,
                )
            )
    return out


def _entity_findings(
    sw: Swagger,
    entity: str,
    fields: tuple[Iterable[str], Iterable[str]],
    detail: tuple[str, tuple[Iterable[str], Iterable[str]]] | None,
    setting: str,
    blocks: bool,
) -> list[Finding]:
    if not sw.has(entity):
        return [
            _finding(
                entity,
                "error" if blocks else "warning",
                "entity_missing",
                f"this install serves no {entity}/",
                setting,
                blocks=blocks,
                entity=entity,
            )
        ]
    definition = sw.entity_definition(entity)
    if definition is None:
        return [
            _finding(
                entity,
                "warning",
                "entity_undescribed",
                f"swagger.json lists {entity}/ but does not describe its fields",
                entity=entity,
            )
        ]
    # one line for the entity when every field is there; a line per field that is not
    out = _field_findings(entity, sw.properties(definition), fields, setting)
    checked = len([*fields[0], *fields[1]])
    if detail is not None:
        prop, line_fields = detail
        line = sw.detail(definition, prop)
        if line is not None:
            out += _field_findings(f"{entity}.{prop}", sw.properties(line), line_fields, setting)
            checked += len([*line_fields[0], *line_fields[1]])
    if not out:
        out = [
            _finding(
                entity,
                "ok",
                "entity_ok",
                f"present, with the {checked} fields Bridge uses",
                entity=entity,
                fields=checked,
            )
        ]
    return out


async def _swagger(client: DragonfishClient) -> tuple[Swagger | None, Finding]:
    from connectors.dragonfish.client import SWAGGER

    url = client.config.endpoint + SWAGGER
    try:
        # a 401 goes through the session logic (Autenticar) like any request
        reply = await client.request("GET", SWAGGER, ok=lambda s: s != 401)
    except BridgeError as exc:
        return None, _finding(
            "swagger.json",
            "warning",
            "swagger_unreadable",
            f"could not read {url}: {exc.message}",
            url=url,
        )
    if reply.status != 200 or looks_html(reply):
        return None, _finding(
            "swagger.json",
            "warning",
            "swagger_missing",
            f"this install does not describe itself ({url}: HTTP {reply.status}); "
            "checked against its records only",
            url=url,
            http_status=reply.status,
        )
    try:
        doc = decode_json(reply, client.side)
    except BridgeError as exc:
        return None, _finding(
            "swagger.json",
            "warning",
            "swagger_unreadable",
            f"{url} is not a Swagger document ({exc.message})",
            url=url,
        )
    if not isinstance(doc, Mapping) or not isinstance(field(doc, "paths"), Mapping):
        return None, _finding(
            "swagger.json",
            "warning",
            "swagger_unreadable",
            f"{url} is not a Swagger document (no 'paths')",
            url=url,
        )
    version = text(field(doc, "info"), "version")
    return Swagger(doc, client.config.endpoint), _finding(
        "swagger.json",
        "ok",
        "swagger_ok",
        f"read ({len(field(doc, 'paths'))} paths"
        + (f", version {version}" if version else "")
        + ")",
        url=url,
        version=version,
    )


async def _record(
    client: DragonfishClient, path: str, code: str, what: str, setting: str, entity: str
) -> Finding:
    """A record the settings name by code: exists, or is named by its description (the
    finding then says the code to set), or cannot be checked."""
    from connectors.dragonfish.client import NoSuchEntity

    try:
        if await client.read(path, code) is not None:
            return _finding(
                setting,
                "ok",
                "record_ok",
                f"{what} '{code}' exists",
                setting,
                what=what,
                value=code,
            )
        table = await client.table(path)
    except NoSuchEntity:
        return _finding(
            setting,
            "warning",
            "record_unverifiable",
            f"this install serves no {path}: {what} '{code}' cannot be checked",
            setting,
            what=what,
            value=code,
            entity=entity,
        )
    by_name = [c for c, d in (table or {}).items() if fold(d) == fold(code)]
    if len(by_name) == 1:
        return _finding(
            setting,
            "error",
            "record_is_description",
            f"'{code}' is the name of {what} {by_name[0]}; set its code: "
            f'{setting} = "{by_name[0]}"',
            setting,
            blocks=True,
            what=what,
            value=code,
            proposed=by_name[0],
        )
    known = ", ".join(f"{c} ({d})" for c, d in list((table or {}).items())[:12])
    return _finding(
        setting,
        "error",
        "record_unknown",
        f"Dragonfish has no {what} '{code}'" + (f"; it has: {known}" if known else ""),
        setting,
        blocks=True,
        what=what,
        value=code,
        known=known or "-",
    )


async def _codes(
    client: DragonfishClient,
    path: str,
    what: str,
    setting: str,
    configured: Mapping[str, str],
    names: Mapping[Any, tuple[str, ...]],
    missing: str,
) -> list[Finding]:
    """Configured fiscal codes against the install's own table, and those not configured
    looked up there by name."""
    table = await client.table(path)
    if table is None:
        shown = ", ".join(f"{k} = {v}" for k, v in configured.items()) or "none"
        return [
            _finding(
                setting,
                "warning",
                "table_unverifiable",
                f"this install serves no {path}: the codes set ({shown}) cannot be checked",
                setting,
                what=what,
                codes=shown,
            )
        ]
    out = []
    listed = ", ".join(f"{c} = {d}" for c, d in table.items())
    for key, wanted in names.items():
        k = str(getattr(key, "value", key))
        label = k.replace("_", " ")
        sub = f"{setting}.{k}"
        code = configured.get(k)
        by_name = [c for c, d in table.items() if name_key(d) in {name_key(n) for n in wanted}]
        if code:
            desc = next((d for c, d in table.items() if same_code(c, code)), None)
            if desc is None:
                out.append(
                    _finding(
                        sub,
                        "error",
                        "code_unknown",
                        f"code {code} for {label} is not in this install's "
                        f"{path} ({listed})"
                        + (f"; by its name it is {by_name[0]}" if by_name else ""),
                        sub,
                        blocks=True,
                        what=what,
                        label=label,
                        value=code,
                        proposed=by_name[0] if by_name else "",
                        known=listed,
                    )
                )
            elif name_key(desc) in {name_key(n) for n in wanted}:
                out.append(
                    _finding(
                        sub,
                        "ok",
                        "code_ok",
                        f"{code} = {desc}",
                        sub,
                        what=what,
                        label=label,
                        value=code,
                        name=desc,
                    )
                )
            elif by_name:
                out.append(
                    _finding(
                        sub,
                        "error",
                        "code_means_other",
                        f"code {code} is '{desc}' in this install, not {label}; "
                        f"{label} is {by_name[0]}",
                        sub,
                        blocks=True,
                        what=what,
                        label=label,
                        value=code,
                        name=desc,
                        proposed=by_name[0],
                    )
                )
            else:
                out.append(
                    _finding(
                        sub,
                        "warning",
                        "code_unconfirmed",
                        f"code {code} is '{desc}' in this install: check that it is {label}",
                        sub,
                        what=what,
                        label=label,
                        value=code,
                        name=desc,
                    )
                )
        elif len(by_name) == 1:
            out.append(
                _finding(
                    sub,
                    "ok",
                    "code_by_name",
                    f"not set; this install's {by_name[0]} ({table[by_name[0]]}) will be used",
                    sub,
                    what=what,
                    label=label,
                    value=by_name[0],
                    name=table[by_name[0]],
                )
            )
        else:
            out.append(
                _finding(
                    sub,
                    "warning",
                    "code_missing",
                    f"not set and not found by name in this install's {path} ({listed}): {missing}",
                    sub,
                    what=what,
                    label=label,
                    known=listed,
                )
            )
    return out


async def calibrate(client: DragonfishClient) -> list[Finding]:
    """Every finding about this install. Raises BridgeError only when the install cannot
    be reached or refuses the credentials (then nothing is known)."""
    from connectors.dragonfish.client import (
        CATALOG,
        CUSTOMERS,
        OPERATIONS,
        ORDERS,
        NoSuchEntity,
    )

    cfg = client.config
    operation_mode = cfg.modo_pedidos == "operacion"
    sw, first = await _swagger(client)
    out = [first]
    if sw is not None:
        stock = (("Articulo", "Color", "Talle", cfg.stock_field, "Lista", "Precio"), ())
        out += _entity_findings(sw, CATALOG.strip("/"), stock, None, "erp.endpoint", False)
        if cfg.lista:
            out += _entity_findings(
                sw, cfg.listas_path.strip("/"), LIST_FIELDS, None, "erp.listas_path", True
            )
        out += _entity_findings(sw, CUSTOMERS.strip("/"), CUSTOMER_FIELDS, None, "", True)
        if operation_mode:
            out += _entity_findings(
                sw,
                OPERATIONS.strip("/"),
                OPERATION_FIELDS,
                ("PublicacionDetalle", OPERATION_LINE),
                "erp.modo_pedidos",
                True,
            )
        else:
            out += _entity_findings(
                sw, ORDERS.strip("/"), PEDIDO_FIELDS, ("FacturaDetalle", PEDIDO_LINE), "", True
            )
        has_operations = sw.has(OPERATIONS.strip("/"))
    else:
        try:
            await client.list_page(OPERATIONS, {"limit": 1, "page": 1})
            has_operations = True  # served (empty or not)
        except NoSuchEntity:
            has_operations = False
    # the order mode
    if operation_mode and not has_operations:
        out.append(
            _finding(
                "erp.modo_pedidos",
                "error",
                "mode_unsupported",
                "this install has no Operacionecommerce: set erp.modo_pedidos = "
                '"pedido" (Pedidos marked in Obs, with a Motivo)',
                "erp.modo_pedidos",
                blocks=True,
                proposed="pedido",
            )
        )
    elif not operation_mode and has_operations:
        out.append(
            _finding(
                "erp.modo_pedidos",
                "ok",
                "mode_alternative",
                "orders go as Pedidos; this install also has Operacionecommerce "
                '("operacion": Dragonfish itself refuses a second order)',
                "erp.modo_pedidos",
                proposed="operacion",
            )
        )
    else:
        out.append(
            _finding(
                "erp.modo_pedidos",
                "ok",
                "mode_ok",
                f"'{cfg.modo_pedidos}'",
                "erp.modo_pedidos",
                value=cfg.modo_pedidos,
            )
        )
    # the records the settings name
    if cfg.lista:
        try:
            code = await client.lista_code()
            out.append(
                _finding(
                    "erp.lista",
                    "ok",
                    "price_list_ok",
                    f"'{cfg.lista}' = {code}",
                    "erp.lista",
                    value=cfg.lista,
                    list_code=str(code),
                )
            )
        except ConfigError as exc:
            known = ", ".join(f"'{n}'" for _, n in await client.price_lists() if n)
            out.append(
                _finding(
                    "erp.lista",
                    "error",
                    exc.code,
                    exc.message,
                    "erp.lista",
                    blocks=True,
                    value=cfg.lista,
                    known=known or "-",
                )
            )
    if operation_mode and has_operations:
        out.append(
            await _record(
                client,
                cfg.plataformas_path,
                cfg.ecommerce,
                "e-commerce platform",
                "erp.ecommerce",
                "Ecommerce",
            )
        )
    if not operation_mode:
        out.append(
            await _record(client, cfg.motivos_path, cfg.motivo, "Motivo", "erp.motivo", "Motivo")
        )
    if cfg.cliente_plantilla:
        try:
            tpl = await client.template()
            out.append(
                _finding(
                    "erp.cliente_plantilla",
                    "ok",
                    "template_ok",
                    f"'{cfg.cliente_plantilla}' ({text(tpl, 'Nombre')})",
                    "erp.cliente_plantilla",
                    value=cfg.cliente_plantilla,
                )
            )
        except ConfigError as exc:
            out.append(
                _finding(
                    "erp.cliente_plantilla",
                    "error",
                    exc.code,
                    exc.message,
                    "erp.cliente_plantilla",
                    blocks=True,
                    value=cfg.cliente_plantilla,
                )
            )
    from connectors.dragonfish.client import CONDITION_NAMES, DOCUMENT_NAMES

    out += await _codes(
        client,
        cfg.situaciones_path,
        "SituacionFiscal",
        "erp.situacion_fiscal",
        cfg.situacion_fiscal,
        {c: CONDITION_NAMES[c] for c in TaxCondition},
        "orders of such buyers wait until it is set",
    )
    out += await _codes(
        client,
        cfg.tipos_documento_path,
        "TipoDocumento",
        "erp.tipo_documento",
        cfg.tipo_documento,
        DOCUMENT_NAMES,
        "such customers are created without a TipoDocumento",
    )
    return out
