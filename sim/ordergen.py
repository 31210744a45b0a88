"""Seeded buyers and orders for the store simulator (tests and `bridge demo`).

Everything is reproducible from the seed except what must not be: order ids are ULID-like
(time-sortable, random part from the OS) so that they are unique across simulator restarts,
and `confirmed_at` is the current time in Argentina unless given.

The data is meant to look like what a real wholesale store holds: Responsable Inscripto
firms and Monotributo sole traders with valid CUITs (written with or without dashes),
exempt associations, final consumers with a DNI (sometimes written with dots), accents and
eñes, addresses across provinces with old 4-digit and CPA postal codes, floors such as
"4° A" and the odd street number "S/N".
"""

from __future__ import annotations

import contextlib
import copy
import os
import random
import re
import threading
import time
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from bridge.fiscal import (
    FiscalError,
    TaxCondition,
    cuit_check_digit,
    make_cuit,
    validate_cuit,
    validate_dni,
)

AR_TZ = timezone(timedelta(hours=-3), "ART")
CENT = Decimal("0.01")

# -- ids ------------------------------------------------------------------------------------
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _b32(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(out))


class _Ulid:
    """Monotonic ULID: 48-bit millisecond time + 80 random bits, 26 Crockford base32
    characters. Within one millisecond the random part is incremented, so ids made by one
    process always sort in creation order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ms = -1
        self._rand = 0

    def __call__(self) -> str:
        with self._lock:
            ms = time.time_ns() // 1_000_000
            if ms <= self._ms:
                ms = self._ms
                self._rand += 1
                if self._rand >= 1 << 80:  # overflow: borrow the next millisecond
                    ms += 1
                    self._rand = int.from_bytes(os.urandom(10), "big") >> 1
            else:
                self._rand = int.from_bytes(os.urandom(10), "big") >> 1
            self._ms = ms
            return _b32((ms << 80) | self._rand, 26)


new_ulid = _Ulid()


def new_order_id() -> str:
    return "ord_" + new_ulid()


def now_ar() -> str:
    """The current time in Argentina as the store writes it: 2026-11-22T13:05:00-03:00."""
    return datetime.now(AR_TZ).replace(microsecond=0).isoformat()


# -- money ----------------------------------------------------------------------------------
def money(value: Decimal | int | str) -> str:
    """A decimal string with two decimals ("1234.50"), rounded half up."""
    return str(Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP))


def item_subtotal(quantity: int, unit_price: str, discount_pct: str = "0") -> str:
    """quantity × unit_price × (1 − discount/100), rounded to cents."""
    gross = Decimal(quantity) * Decimal(unit_price)
    return money(gross * (1 - Decimal(discount_pct) / 100))


# -- nested changes -------------------------------------------------------------------------
def apply_changes(target: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """Apply `changes` to `target` in place. A dict value is merged into an existing dict
    (``buyer={"tax_id": "..."}`` changes only the tax id); ``buyer__tax_id="..."`` is the
    same written as a path. Anything else replaces the value."""
    for key, value in changes.items():
        node = target
        *parents, leaf = key.split("__")
        for p in parents:
            child = node.get(p)
            if not isinstance(child, dict):
                child = node[p] = {}
            node = child
        current = node.get(leaf)
        if isinstance(value, Mapping) and isinstance(current, dict):
            apply_changes(current, value)
        else:
            node[leaf] = copy.deepcopy(value)
    return target


# -- places and names -----------------------------------------------------------------------
# (province, CPA letter, [(city, postal code, phone area code)])
PLACES: tuple[tuple[str, str, tuple[tuple[str, str, str], ...]], ...] = (
    (
        "Ciudad Autónoma de Buenos Aires",
        "C",
        (
            ("CABA", "1406", "11"),
            ("CABA", "1414", "11"),
            ("CABA", "1425", "11"),
            ("CABA", "1043", "11"),
            ("CABA", "1180", "11"),
            ("CABA", "1203", "11"),
        ),
    ),
    (
        "Buenos Aires",
        "B",
        (
            ("La Plata", "1900", "221"),
            ("Mar del Plata", "7600", "223"),
            ("Bahía Blanca", "8000", "291"),
            ("Quilmes", "1878", "11"),
            ("Morón", "1708", "11"),
            ("San Justo", "1754", "11"),
            ("Lomas de Zamora", "1832", "11"),
        ),
    ),
    (
        "Córdoba",
        "X",
        (
            ("Córdoba", "5000", "351"),
            ("Villa María", "5900", "353"),
            ("Río Cuarto", "5800", "358"),
        ),
    ),
    (
        "Santa Fe",
        "S",
        (
            ("Rosario", "2000", "341"),
            ("Santa Fe", "3000", "342"),
            ("Rafaela", "2300", "3492"),
        ),
    ),
    ("Mendoza", "M", (("Mendoza", "5500", "261"), ("San Rafael", "5600", "260"))),
    ("Tucumán", "T", (("San Miguel de Tucumán", "4000", "381"),)),
    ("Salta", "A", (("Salta", "4400", "387"),)),
    ("Entre Ríos", "E", (("Paraná", "3100", "343"), ("Concordia", "3200", "345"))),
    ("Misiones", "N", (("Posadas", "3300", "376"),)),
    ("Corrientes", "W", (("Corrientes", "3400", "379"),)),
    ("Chaco", "H", (("Resistencia", "3500", "362"),)),
    ("Neuquén", "Q", (("Neuquén", "8300", "299"),)),
    ("San Juan", "J", (("San Juan", "5400", "264"),)),
    ("Río Negro", "R", (("San Carlos de Bariloche", "8400", "294"),)),
    ("Chubut", "U", (("Comodoro Rivadavia", "9000", "297"),)),
    ("Jujuy", "Y", (("San Salvador de Jujuy", "4600", "388"),)),
    ("Santiago del Estero", "G", (("Santiago del Estero", "4200", "385"),)),
    ("La Pampa", "L", (("Santa Rosa", "6300", "2954"),)),
)
# Wholesale buyers concentrate around Buenos Aires, Córdoba and Rosario.
PLACE_WEIGHTS = (22, 22, 12, 12, 5, 4, 3, 4, 2, 2, 2, 3, 2, 2, 1, 1, 1, 1)

STREETS = (
    "Av. Rivadavia",
    "San Martín",
    "Belgrano",
    "Av. Corrientes",
    "Sarmiento",
    "Mitre",
    "25 de Mayo",
    "9 de Julio",
    "Av. Colón",
    "Bv. Oroño",
    "Laprida",
    "Entre Ríos",
    "Moreno",
    "Italia",
    "Güemes",
    "Av. del Libertador",
    "Juan B. Justo",
    "Pueyrredón",
    "Alsina",
    "Av. Avellaneda",
    "Tucumán",
    "Hipólito Yrigoyen",
    "Gral. Paz",
    "Dean Funes",
    "Córdoba",
)
FLOORS = ("",) * 14 + ("PB", "1", "2", "3", "2B", "1° A", "4° C", "10° B")

MALE_NAMES = (
    "Juan",
    "José",
    "Martín",
    "Agustín",
    "Nicolás",
    "Diego",
    "Ramón",
    "Néstor",
    "Carlos",
    "Sebastián",
    "Matías",
    "Pablo",
    "Gustavo",
    "Hernán",
    "Julián",
    "Facundo",
    "Jorge Luis",
)
FEMALE_NAMES = (
    "María",
    "Sofía",
    "Lucía",
    "María José",
    "Florencia",
    "Valeria",
    "Carolina",
    "Mónica",
    "Silvina",
    "Paula",
    "Romina",
    "Natalia",
    "Verónica",
    "Agustina",
    "Ana Inés",
    "Graciela",
)
SURNAMES = (
    "González",
    "Rodríguez",
    "Gómez",
    "Fernández",
    "López",
    "Díaz",
    "Martínez",
    "Pérez",
    "García",
    "Sánchez",
    "Romero",
    "Sosa",
    "Álvarez",
    "Torres",
    "Ruiz",
    "Ramírez",
    "Flores",
    "Benítez",
    "Acosta",
    "Medina",
    "Herrera",
    "Suárez",
    "Aguirre",
    "Giménez",
    "Gutiérrez",
    "Pereyra",
    "Rojas",
    "Molina",
    "Castro",
    "Núñez",
    "Luna",
    "Juárez",
    "Ferreyra",
    "Godoy",
    "Peralta",
    "Quiroga",
    "Ledesma",
    "Muñoz",
    "Ojeda",
    "Vázquez",
    "Cáceres",
    "Agüero",
    "Páez",
    "Ávila",
    "Acuña",
    "D'Angelo",
    "O'Connor",
    "Di Paolo",
)
FIRM_KINDS = (
    "Distribuidora",
    "Mayorista",
    "Textil",
    "Comercial",
    "Indumentaria",
    "Importadora",
    "Tienda",
    "Casa",
    "Grupo",
)
FIRM_NAMES = (
    "Norte",
    "del Sur",
    "Los Andes",
    "Río Paraná",
    "San Cayetano",
    "La Porteña",
    "Don Bosco",
    "El Ombú",
    "Patagonia",
    "Cuyo",
    "Mediterránea",
    "Santa Rita",
    "Del Litoral",
    "Los Hermanos",
    "Pampa",
    "Once",
    "Avellaneda",
    "Flores",
    "La Salada",
    "El Progreso",
    "Doña Rosa",
)
FIRM_SUFFIXES = ("SRL", "S.R.L.", "S.A.", "SA", "SAS", "S.A.S.")
TRADE_NAMES = (
    "Boutique",
    "Lencería",
    "Kids",
    "Tienda",
    "Moda",
    "Regalería",
    "Almacén de ropa",
    "Showroom",
)
FANTASY_NAMES = (
    "Mía",
    "Coqueta",
    "Luna",
    "Sol de Mayo",
    "Bambini",
    "Estilo",
    "La Esquina",
    "Del Barrio",
    "Nuestra Señora",
    "Ñandú",
    "Pequeños Pasos",
)
EXEMPT_NAMES = (
    "Asociación Civil Club Atlético {n}",
    "Cooperativa de Trabajo Textil {n} Ltda.",
    "Fundación {n}",
    "Asociación Mutual {n}",
    "Asociación Civil Biblioteca Popular y Centro Cultural {n}",
    "Obispado de {n}",
)
EXEMPT_WORDS = (
    "San Martín",
    "Sarmiento",
    "Esperanza",
    "Nuevo Horizonte",
    "Juventud Unida",
    "Belgrano",
    "Domingo Faustino Sarmiento",
    "Río Cuarto",
    "Santa Ana",
)
MAIL_DOMAINS = ("gmail.com", "hotmail.com", "yahoo.com.ar", "outlook.com", "live.com.ar")


def ascii_slug(text: str, sep: str = "") -> str:
    """ "Distribuidora Doña Rosa S.R.L." → "distribuidoradonarosasrl" (for e-mail addresses)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", sep, plain.lower()).strip(sep)


def _phone(rng: random.Random, area: str) -> str:
    local_len = 10 - len(area)
    local = str(rng.randrange(4 * 10 ** (local_len - 1), 10**local_len))
    head, tail = local[:-4], local[-4:]
    style = rng.random()
    if style < 0.45:
        return f"+54 9 {area} {head}-{tail}"
    if style < 0.7:
        return f"(0{area}) 15-{head}-{tail}"
    if style < 0.9:
        return f"0{area} {head}-{tail}"
    return f"54{area}{local}"


def _postal_code(rng: random.Random, letter: str, code: str) -> str:
    if rng.random() < 0.3:  # CPA: letter, 4 digits, 3 letters (8 characters)
        return f"{letter}{code}{''.join(rng.choice('ABCDEFGHJKLMNPQRSTUVWXYZ') for _ in range(3))}"
    return code


def _address(rng: random.Random) -> tuple[dict[str, str], str]:
    province, letter, cities = rng.choices(PLACES, weights=PLACE_WEIGHTS)[0]
    city, code, area = rng.choice(cities)
    number = "S/N" if rng.random() < 0.03 else str(rng.randrange(10, 6000))
    address = {
        "street": rng.choice(STREETS),
        "number": number,
        "floor": rng.choice(FLOORS),
        "city": city,
        "province": province,
        "postal_code": _postal_code(rng, letter, code),
    }
    return address, area


def _valid_cuit(rng: random.Random, prefix: str, low: int, high: int) -> str:
    while True:
        body = rng.randrange(low, high)
        if cuit_check_digit(f"{prefix}{body:08d}") is None:
            continue
        cuit = make_cuit(prefix, str(body))
        try:
            return validate_cuit(cuit)
        except FiscalError:  # a filler such as 55555555
            continue


def _format_cuit(rng: random.Random, cuit: str) -> str:
    # Most merchants type the dashes, some do not.
    return f"{cuit[:2]}-{cuit[2:10]}-{cuit[10]}" if rng.random() < 0.8 else cuit


def _dni(rng: random.Random) -> str:
    while True:
        number = (
            rng.randrange(5_000_000, 9_999_999)
            if rng.random() < 0.15
            else rng.randrange(14_000_000, 46_000_000)
        )
        try:
            validate_dni(str(number))
            break
        except FiscalError:  # a filler such as 7777777
            continue
    text = str(number)
    if rng.random() < 0.2:  # "28.456.789"
        text = f"{number:,}".replace(",", ".")
    return text


def _person(rng: random.Random) -> tuple[str, str, bool]:
    female = rng.random() < 0.5
    first = rng.choice(FEMALE_NAMES if female else MALE_NAMES)
    last = rng.choice(SURNAMES)
    if rng.random() < 0.3:
        last = f"{last} {rng.choice(SURNAMES)}"
    return first, last, female


def _person_email(rng: random.Random, first: str, last: str) -> str:
    f, lname = ascii_slug(first.split()[0]), ascii_slug(last.split()[0])
    local = rng.choice((f"{f}.{lname}", f"{f[0]}{lname}", f"{lname}{f}", f"{f}_{lname}"))
    if rng.random() < 0.4:
        local += str(rng.randrange(1, 99))
    return f"{local}@{rng.choice(MAIL_DOMAINS)}"


def _firm_email(rng: random.Random, name: str) -> str:
    slug = ascii_slug(re.sub(r"\b(S\.?R\.?L\.?|S\.?A\.?S?\.?|Ltda\.)$", "", name))[:30]
    box = rng.choice(("ventas", "compras", "administracion", "info", "pedidos"))
    return f"{box}@{slug}.com.ar"


class BuyerPool(Sequence[dict[str, Any]]):
    """A reproducible set of the store's customers. Conditions are mixed: about 40%
    Responsable Inscripto (mostly firms, CUIT 30/33), 30% Monotributo (people, CUIT 20/27),
    10% Exento (associations, CUIT 30) and 20% Consumidor Final (DNI)."""

    def __init__(self, seed: int = 0, size: int = 40) -> None:
        if size < 1:
            raise ValueError("a buyer pool needs at least one buyer")
        self.seed = seed
        rng = random.Random(f"buyers-{seed}")
        conditions = [
            TaxCondition.RESPONSABLE_INSCRIPTO,
            TaxCondition.MONOTRIBUTO,
            TaxCondition.EXENTO,
            TaxCondition.CONSUMIDOR_FINAL,
        ]
        shares = (0.4, 0.3, 0.1, 0.2)
        plan: list[TaxCondition] = []
        for cond, share in zip(conditions, shares, strict=True):
            plan += [cond] * max(1 if size >= 4 else 0, round(size * share))
        while len(plan) < size:
            plan.append(TaxCondition.RESPONSABLE_INSCRIPTO)
        plan = plan[:size]
        rng.shuffle(plan)
        self.buyers: list[dict[str, Any]] = []
        seen_ids: set[str] = set()
        for cond in plan:
            buyer = self._make(rng, cond)
            while buyer["tax_id"] in seen_ids:
                buyer = self._make(rng, cond)
            seen_ids.add(buyer["tax_id"])
            self.buyers.append(buyer)

    @staticmethod
    def _make(rng: random.Random, cond: TaxCondition) -> dict[str, Any]:
        address, area = _address(rng)
        if cond is TaxCondition.RESPONSABLE_INSCRIPTO and rng.random() < 0.8:
            name = f"{rng.choice(FIRM_KINDS)} {rng.choice(FIRM_NAMES)} {rng.choice(FIRM_SUFFIXES)}"
            cuit = _valid_cuit(rng, rng.choice(("30", "30", "30", "33")), 50_000_000, 72_000_000)
            tax_id, email = _format_cuit(rng, cuit), _firm_email(rng, name)
        elif cond is TaxCondition.EXENTO:
            name = rng.choice(EXEMPT_NAMES).format(n=rng.choice(EXEMPT_WORDS))
            cuit = _valid_cuit(rng, "30", 50_000_000, 72_000_000)
            tax_id, email = _format_cuit(rng, cuit), _firm_email(rng, name)
        else:
            first, last, female = _person(rng)
            email = _person_email(rng, first, last)
            if cond is TaxCondition.CONSUMIDOR_FINAL:
                name, tax_id = f"{first} {last}", _dni(rng)
            else:  # monotributo, or a Responsable Inscripto sole trader
                cuit = _valid_cuit(rng, "27" if female else "20", 14_000_000, 46_000_000)
                tax_id = _format_cuit(rng, cuit)
                style = rng.random()
                if style < 0.5:
                    name = f"{first} {last}"
                elif style < 0.75:
                    name = f"{last}, {first}"
                else:
                    name = f"{rng.choice(TRADE_NAMES)} {rng.choice(FANTASY_NAMES)}"
                    if rng.random() < 0.5:
                        name += f" de {first} {last}"
        return {
            "id": "cus_" + _b32(rng.getrandbits(128), 26),
            "business_name": name,
            "tax_id": tax_id,
            "tax_condition": cond.value,
            "email": email,
            "phone": _phone(rng, area),
            "address": address,
        }

    def __len__(self) -> int:
        return len(self.buyers)

    def __getitem__(self, index: int) -> dict[str, Any]:  # type: ignore[override]
        return self.buyers[index]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.buyers)

    def by_condition(self, condition: str) -> list[dict[str, Any]]:
        return [b for b in self.buyers if b["tax_condition"] == condition]

    def pick(self, rng: random.Random) -> dict[str, Any]:
        """A copy of a random buyer (safe to modify)."""
        return copy.deepcopy(rng.choice(self.buyers))


# -- catalog --------------------------------------------------------------------------------
ARTICLES: dict[str, str] = {
    "R1050": "Remera algodón peinado",
    "R1080": "Remera manga larga rayada",
    "B2010": "Buzo canguro frisa",
    "B2044": "Buzo cuello redondo",
    "J3001": "Jean mom tiro alto",
    "J3015": "Jean recto elastizado",
    "C4100": "Camisa lino",
    "CA500": "Campera inflable",
    "P6020": "Pantalón cargo gabardina",
    "V7002": "Vestido fibrana estampado",
}
COLORS: dict[str, str] = {
    "NEGRO": "Negro",
    "BLANCO": "Blanco",
    "AZUL": "Azul",
    "GRISMEL": "Gris melange",
    "ROJO": "Rojo",
    "VERDE": "Verde militar",
    "BEIGE": "Beige",
}
SIZES = ("S", "M", "L", "XL", "XXL")
PLAIN_ARTICLES: dict[str, str] = {
    "MED-3PACK": "Medias soquete pack x3",
    "CINTO-CUERO": "Cinto de cuero",
    "GORRA-BAS": "Gorra básica",
    "BOLSA-50": "Bolsas camiseta x 50",
}


def product_name(sku: str) -> str:
    """A readable name for a catalog SKU ("R1050!NEGRO!M" → "Remera algodón peinado Negro
    T.M"); unknown SKUs get "Artículo <SKU>"."""
    if sku in PLAIN_ARTICLES:
        return PLAIN_ARTICLES[sku]
    parts = sku.split("!")
    if len(parts) == 3 and parts[0] in ARTICLES:
        color = COLORS.get(parts[1], parts[1].title())
        return (
            f"{ARTICLES[parts[0]]} {color} T.{parts[2]}"
            if parts[2]
            else (f"{ARTICLES[parts[0]]} {color}")
        )
    return f"Artículo {sku}"


def demo_catalog(seed: int = 0, articles: int = 10) -> list[tuple[str, int, str]]:
    """A clothing wholesaler's catalog as (sku, stock, price) for `StoreSimulator(products=)`:
    variants `ART!COLOR!TALLE` plus a few SKUs without variants."""
    rng = random.Random(f"catalog-{seed}")
    out: list[tuple[str, int, str]] = []
    for code in list(ARTICLES)[:articles]:
        base = Decimal(rng.randrange(40, 400)) * 50
        if rng.random() < 0.2:
            base += Decimal("0.50")
        for color in rng.sample(list(COLORS), rng.randint(2, 4)):
            for size in SIZES[: rng.randint(3, 5)]:
                price = base + (Decimal(500) if size in ("XL", "XXL") else 0)
                out.append(
                    (
                        f"{code}!{color}!{size}",
                        rng.choice((0, 6, 12, 24, 36, 60, 120)),
                        money(price),
                    )
                )
    for sku in PLAIN_ARTICLES:
        out.append((sku, rng.randrange(0, 500), money(Decimal(rng.randrange(5, 60)) * 100)))
    return out


# -- orders ---------------------------------------------------------------------------------
PAYMENT_TERMS = (
    "30 días",
    "Contado",
    "Transferencia anticipada",
    "60 días",
    "Cuenta corriente 30 días",
    "Cheque a 30/60 días",
    "Mercado Pago",
)
NOTES = (
    "",
    "",
    "",
    "",
    "Entregar por la mañana",
    "Envío por Expreso Jet Paq",
    "Retira en depósito el jueves",
    "Facturar a nombre de la razón social",
    "Si falta algún talle, reemplazar por el siguiente",
    "Llamar antes de enviar 🚚",
)
DISCOUNTS = ("0.00",) * 6 + ("5.00", "5.00", "10.00", "12.50", "15.00")
QUANTITIES = (1, 2, 3, 4, 5, 6, 6, 6, 10, 12, 12, 12, 24, 36, 48)


class OrderFactory:
    """Makes confirmed orders exactly as the store lists them (without ERP status)."""

    def __init__(
        self,
        skus_with_prices: Sequence[tuple[str, str]],
        seed: int = 0,
        buyers: BuyerPool | None = None,
        *,
        names: Mapping[str, str] | None = None,
        number_start: int | None = None,
    ) -> None:
        self.catalog: list[tuple[str, str]] = list(skus_with_prices)
        self.buyers = buyers if buyers is not None else BuyerPool(seed)
        self.names: dict[str, str] = dict(names or {})
        self.rng = random.Random(f"orders-{seed}")
        if number_start is None:
            number_start = random.Random(f"numbers-{seed}").randint(100, 4999)
        self.next_number = number_start

    def _item(
        self,
        sku: str,
        quantity: int,
        unit_price: str | None = None,
        discount_pct: str | None = None,
    ) -> dict[str, Any]:
        if unit_price is None:
            unit_price = dict(self.catalog).get(sku, "1000.00")
        if discount_pct is None:
            discount_pct = self.rng.choice(DISCOUNTS)
        return {
            "sku": sku,
            "name": self.names.get(sku) or product_name(sku),
            "quantity": quantity,
            "unit_price": unit_price,
            "discount_pct": discount_pct,
            "subtotal": item_subtotal(quantity, unit_price, discount_pct),
        }

    def _complete(self, given: Mapping[str, Any] | tuple[Any, ...]) -> dict[str, Any]:
        """An item from a dict (missing fields filled in, no discount unless given) or a
        (sku, quantity) tuple (catalog price, no discount)."""
        if isinstance(given, tuple):
            return self._item(str(given[0]), int(given[1]), discount_pct="0.00")
        item = dict(given)
        sku = item.get("sku")
        prices = dict(self.catalog)
        item.setdefault("name", self.names.get(str(sku)) or product_name(str(sku)))
        item.setdefault("quantity", 1)
        item.setdefault("unit_price", prices.get(str(sku), "1000.00"))
        item.setdefault("discount_pct", "0.00")
        if "subtotal" not in item:
            try:
                item["subtotal"] = item_subtotal(
                    int(item["quantity"]), str(item["unit_price"]), str(item["discount_pct"])
                )
            except (ValueError, TypeError, InvalidOperation):
                item["subtotal"] = "0.00"  # a deliberately malformed item
        return item

    def make(
        self,
        n_items: int | None = None,
        buyer: Mapping[str, Any] | None = None,
        items: Iterable[Mapping[str, Any] | tuple[Any, ...]] | None = None,
        **overrides: Any,
    ) -> dict[str, Any]:
        """A new order. `items` are dicts (missing fields filled in, subtotal computed) or
        (sku, quantity) tuples; otherwise `n_items` (default 1–6) distinct catalog SKUs.
        `overrides` replace top-level fields or, as `buyer__tax_id=...`, nested ones; the
        total is computed before overrides, so `total=` can make an inconsistent order."""
        rng = self.rng
        if items is not None:
            lines = [self._complete(it) for it in items]
        else:
            if not self.catalog:
                raise ValueError("the order factory has no products to sell")
            n = n_items if n_items is not None else rng.choice((1, 1, 2, 2, 3, 3, 4, 5, 6))
            chosen = rng.sample(self.catalog, min(n, len(self.catalog)))
            lines = [self._item(sku, rng.choice(QUANTITIES), price) for sku, price in chosen]
        total = Decimal(0)
        for line in lines:
            with contextlib.suppress(InvalidOperation):  # a deliberately malformed subtotal
                total += Decimal(str(line.get("subtotal", "0")))
        number = self.next_number
        self.next_number += 1
        order: dict[str, Any] = {
            "id": new_order_id(),
            "number": f"VM-{number:06d}",
            "status": "confirmed",
            "confirmed_at": now_ar(),
            "buyer": copy.deepcopy(dict(buyer)) if buyer is not None else self.buyers.pick(rng),
            "items": lines,
            "payment_terms": rng.choice(PAYMENT_TERMS),
            "notes": rng.choice(NOTES),
            "total": money(total),
        }
        return apply_changes(order, overrides)
