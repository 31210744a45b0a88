"""A seeded Dragonfish catalog for the simulator: articles, their color x size variants, stock,
committed quantities and prices in four price lists (two of them share the name prefix
"MAYOR $", as real installs do); more lists can be added with `add_list`.

Storage is columnar (one `array` per field, one entry per variant; article-level text kept once
per article), so 100,000+ variants take a few MB; a `ConsultaStockYPrecios` row dict is
rendered only when a page asks for it. Variants are stored in the server's stable order
(Articulo, OrdenPorColor, OrdenPorTalle), so index order is page order.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Iterator, Sequence
from typing import Any

# price-list code -> name, as ListaDePrecios answers them
LISTS: dict[str, str] = {
    "LISTA0": "MINORISTA",
    "LISTA1": "MAYOR $",
    "LISTA2": "DISTRIBUIDOR",
    "LISTA3": "MAYOR $ USD",
}
DEFAULT_LIST = "LISTA0"
_LIST_ITEMS = tuple(LISTS.items())
# each list's price as a share of LISTA0's
_LIST_FACTORS = {"LISTA0": 1.0, "LISTA1": 0.7, "LISTA2": 0.6, "LISTA3": 0.0007}

# index 0: no variant ("" / "")
COLORS: tuple[tuple[str, str], ...] = (
    ("", ""),
    ("001", "NEGRO"),
    ("002", "BLANCO"),
    ("003", "AZUL"),
    ("004", "ROJO"),
    ("005", "VERDE"),
    ("006", "GRIS MELANGE"),
    ("007", "BEIGE"),
    ("008", "ROSA"),
    ("009", "AMARILLO"),
    ("010", "BORDO"),
    ("011", "CELESTE"),
    ("012", "MARRÓN"),
    ("013", "VERDE MILITAR"),
    ("014", "NATURAL"),
    ("015", "FUCSIA"),
)
# size curves: (code, description) in their display order
_CURVES: tuple[tuple[tuple[str, str], ...], ...] = (
    (("S", "SMALL"), ("M", "MEDIUM"), ("L", "LARGE"), ("XL", "EXTRA LARGE")),
    (
        ("XS", "EXTRA SMALL"),
        ("S", "SMALL"),
        ("M", "MEDIUM"),
        ("L", "LARGE"),
        ("XL", "EXTRA LARGE"),
        ("XXL", "DOBLE EXTRA LARGE"),
    ),
    tuple((str(n), str(n)) for n in range(38, 45)),
    tuple((str(n), str(n)) for n in range(35, 41)),
    (("U", "ÚNICO"),),
)
# index 0: no variant
TALLES: tuple[tuple[str, str], ...] = (
    ("", ""),
    *dict.fromkeys(t for curve in _CURVES for t in curve),
)
_TALLE_INDEX = {code: i for i, (code, _) in enumerate(TALLES)}
_COLOR_INDEX = {code: i for i, (code, _) in enumerate(COLORS)}
UNITS: tuple[tuple[str, str], ...] = (("UN", "UNIDAD"), ("PAR", "PAR"), ("MT", "METRO"))

_NOUNS = (
    "Remera",
    "Camisa",
    "Pantalón",
    "Buzo",
    "Campera",
    "Bermuda",
    "Pollera",
    "Vestido",
    "Chomba",
    "Musculosa",
    "Calza",
    "Medias",
    "Zapatilla",
    "Gorra",
    "Cinturón",
    "Bufanda",
)
_MATERIALS = ("Algodón", "Jersey", "Lino", "Gabardina", "Frisa", "Denim", "Poliéster", "Morley")
_STYLES = ("Lisa", "Estampada", "Básica", "Rayada", "Oversize", "Slim", "Clásica", "Deportiva")
_EXTRAS = ("", "", "", "Temporada Otoño-Invierno", "Línea Kids", "Importado", "Nº 5")


def mojibake(text: str) -> str:
    """UTF-8 read as Windows-1252: "Algodón" -> "AlgodÃ³n", "Nº" -> "NÂº"."""
    return text.encode("utf-8").decode("cp1252", errors="replace")


def split_sku(sku: str) -> tuple[str, str, str] | None:
    parts = sku.split("!")
    if len(parts) == 1:
        return parts[0], "", ""
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    return None


class SimCatalog:
    """Columnar catalog. Index `i` is one variant (or one product without variants)."""

    def __init__(self) -> None:
        # per article
        self.art_code: list[str] = []
        self.art_desc: list[str] = []
        self.art_extra: list[str] = []
        self.art_image: list[str] = []
        self.art_unit = array("B")
        self.art_start = array("l")  # first variant; art_start[a + 1] is the end
        self._art_index: dict[str, int] = {}
        self._art_search: list[str] | None = None
        # per variant
        self.var_art = array("l")
        self.var_color = array("B")  # index into COLORS
        self.var_talle = array("B")  # index into TALLES
        self.var_ocolor = array("B")  # OrdenPorColor (1-based, 0 without variants)
        self.var_otalle = array("B")  # OrdenPorTalle
        self.stock = array("d")
        self.comprometido = array("d")
        self.pendiente = array("d")
        self.prices: dict[str, array[float]] = {code: array("d") for code in LISTS}
        # variants the ERP no longer lists (deactivated)
        self.inactive: set[int] = set()
        # bumped by every change, so that cached selections are dropped
        self.version = 0
        self._select_cache: dict[tuple[Any, ...], array[int] | range] = {}
        self._select_version = -1

    # -- generation ------------------------------------------------------------------------
    @classmethod
    def generate(
        cls,
        n_variants: int,
        seed: int,
        *,
        no_variant_share: float = 0.1,
        zero_stock_share: float = 0.05,
        negative_share: float = 0.01,
        zero_price_share: float = 0.01,
        mojibake_share: float = 0.02,
    ) -> SimCatalog:
        """`n_variants` rows, the same for the same seed. `no_variant_share` of the articles
        have no variants; the other shares are of the variants (stock at 0, stock below 0,
        price 0 in every list) and of the articles (description with mojibake)."""
        rng = random.Random(seed)
        cat = cls()
        width = max(5, len(str(max(n_variants, 1))))
        n_colors = len(COLORS) - 1
        a = 0
        while len(cat.stock) < n_variants:
            a += 1
            code = f"A{a:0{width}d}"
            noun = rng.choice(_NOUNS)
            desc = f"{noun} {rng.choice(_MATERIALS)} {rng.choice(_STYLES)}"
            extra = rng.choice(_EXTRAS)
            if rng.random() < mojibake_share:
                # the articles that were loaded through a wrong code page
                if not any(ord(c) > 127 for c in desc):
                    desc = f"{desc} Nº {rng.randint(1, 9)}"
                desc = mojibake(desc)
                extra = mojibake(extra)
            art_index = len(cat.art_code)
            cat.art_code.append(code)
            cat.art_desc.append(desc)
            cat.art_extra.append(extra)
            cat.art_image.append(f"{code}.jpg" if rng.random() < 0.6 else "")
            cat.art_unit.append(0 if noun != "Medias" else 1)
            cat.art_start.append(len(cat.stock))
            cat._art_index[code] = art_index
            base = round(rng.uniform(800, 60000), 2)
            if rng.random() < no_variant_share:
                combos: list[tuple[int, int, int, int]] = [(0, 0, 0, 0)]
            else:
                curve = rng.choice(_CURVES)
                colors = sorted(rng.sample(range(1, n_colors + 1), rng.randint(1, 4)))
                combos = [
                    (c, _TALLE_INDEX[t[0]], oc, ot)
                    for oc, c in enumerate(colors, 1)
                    for ot, t in enumerate(curve, 1)
                ]
            for color, talle, ocolor, otalle in combos:
                if len(cat.stock) >= n_variants:
                    break
                cat.var_art.append(art_index)
                cat.var_color.append(color)
                cat.var_talle.append(talle)
                cat.var_ocolor.append(ocolor)
                cat.var_otalle.append(otalle)
                r = rng.random()
                if r < negative_share:
                    stock = -rng.randint(1, 5)
                elif r < negative_share + zero_stock_share:
                    stock = 0
                else:
                    stock = rng.randint(1, 120)
                cat.stock.append(float(stock))
                cat.comprometido.append(float(rng.randint(1, 4)) if rng.random() < 0.05 else 0.0)
                cat.pendiente.append(float(rng.randint(1, 20)) if rng.random() < 0.03 else 0.0)
                zero = rng.random() < zero_price_share
                for lc, factor in _LIST_FACTORS.items():
                    cat.prices[lc].append(0.0 if zero else round(base * factor, 2))
        cat.art_start.append(len(cat.stock))
        return cat

    # -- lookup ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.stock)

    def sku(self, i: int) -> str:
        art = self.art_code[self.var_art[i]]
        color, talle = COLORS[self.var_color[i]][0], TALLES[self.var_talle[i]][0]
        return f"{art}!{color}!{talle}" if (color or talle) else art

    def skus(self) -> Iterator[str]:
        """The store's SKUs: "Articulo!Color!Talle", or "Articulo" without variants."""
        return (self.sku(i) for i in range(len(self)))

    def article_range(self, articulo: str) -> range:
        a = self._art_index.get(articulo)
        if a is None:
            return range(0)
        return range(self.art_start[a], self.art_start[a + 1])

    def find_variant(self, articulo: str, color: str, talle: str) -> int | None:
        ci, ti = _COLOR_INDEX.get(color), _TALLE_INDEX.get(talle)
        if ci is None or ti is None:
            return None
        for i in self.article_range(articulo):
            if self.var_color[i] == ci and self.var_talle[i] == ti:
                return i
        return None

    def find(self, sku: str) -> int | None:
        """The index of a store SKU, or None."""
        parts = split_sku(sku)
        if parts is None:
            return None
        if parts[1:] == ("", "") and "!" in sku:
            return None  # "ART!!" is not a SKU
        return self.find_variant(*parts)

    def _index(self, sku: str) -> int:
        i = self.find(sku)
        if i is None:
            raise KeyError(sku)
        return i

    # -- state -----------------------------------------------------------------------------
    def _changed(self) -> None:
        self.version += 1

    def deactivate(self, sku: str) -> None:
        """The ERP stops listing this variant (discontinued, deactivated)."""
        self.inactive.add(self._index(sku))
        self._changed()

    def set_stock(self, sku: str, stock: float) -> None:
        self.stock[self._index(sku)] = float(stock)
        self._changed()

    def set_price(self, sku: str, list_code: str, price: float) -> None:
        self.prices[list_code][self._index(sku)] = round(float(price), 4)
        self._changed()

    def add_comprometido(self, sku: str, qty: float) -> None:
        self.add_comprometido_at(self._index(sku), qty)

    def add_comprometido_at(self, i: int, qty: float) -> None:
        self.comprometido[i] += float(qty)
        self._changed()

    def disponible(self, sku: str) -> float:
        i = self._index(sku)
        return self.stock[i] - self.comprometido[i]

    def price(self, sku: str, list_code: str) -> float:
        return self.prices[list_code][self._index(sku)]

    def add_list(self, code: str, factor: float = 1.0) -> None:
        """Price every variant in one more list, at `factor` times DEFAULT_LIST's price (a
        list already there is left as it is)."""
        if code in self.prices:
            return
        self.prices[code] = array("d", (round(p * factor, 2) for p in self.prices[DEFAULT_LIST]))
        self._changed()

    def mutate(self, fraction: float, seed: int) -> list[str]:
        """Change the stock and/or the prices of `fraction` of the variants; their SKUs."""
        rng = random.Random(seed)
        n = len(self)
        k = min(n, max(1 if fraction > 0 else 0, round(n * fraction)))
        picked = sorted(rng.sample(range(n), k))
        for i in picked:
            what = rng.random()
            if what < 0.7 or what >= 0.9:  # stock
                r = rng.random()
                self.stock[i] = 0.0 if r < 0.15 else float(rng.randint(1, 120))
            if what >= 0.7:  # prices, all lists by the same factor
                factor = 1 + rng.choice((-0.1, -0.05, 0.05, 0.1, 0.2))
                for arr in self.prices.values():
                    arr[i] = round(arr[i] * factor, 2)
        if picked:
            self._changed()
        return [self.sku(i) for i in picked]

    def store_rows(self, list_code: str = "LISTA1") -> Iterator[tuple[str, int, str]]:
        """(sku, stock = max(0, disponible), price "1234.50") per variant: the store's seed."""
        prices = self.prices[list_code]
        for i in range(len(self)):
            available = max(0, int(self.stock[i] - self.comprometido[i]))
            yield self.sku(i), available, f"{prices[i]:.2f}"

    # -- queries (for the simulator) -------------------------------------------------------
    def _search_texts(self) -> list[str]:
        if self._art_search is None:
            self._art_search = [
                f"{c}\n{d}".lower() for c, d in zip(self.art_code, self.art_desc, strict=True)
            ]
        return self._art_search

    def select(
        self,
        query: str = "",
        *,
        exact: bool = False,
        list_code: str = DEFAULT_LIST,
        zero_price: bool = False,
        zero_stock: bool = False,
    ) -> Sequence[int]:
        """Indices of the rows a ConsultaStockYPrecios query returns, in page order. Without
        `zero_price` rows priced 0 in `list_code` are left out; without `zero_stock` rows with
        Stock <= 0 are. Cached until the catalog changes."""
        if self._select_version != self.version:
            self._select_cache.clear()
            self._select_version = self.version
        key = (query, exact, list_code, zero_price, zero_stock)
        hit = self._select_cache.get(key)
        if hit is not None:
            return hit
        candidates: Sequence[int] | Iterator[int]
        if exact:
            q = query.strip().upper()
            if "!" in q:
                i = self.find(q)
                candidates = [] if i is None else [i]
            else:
                candidates = self.article_range(q)
        elif query:
            q = query.lower()
            candidates = (
                i
                for a, text in enumerate(self._search_texts())
                if q in text
                for i in range(self.art_start[a], self.art_start[a + 1])
            )
        else:
            candidates = range(len(self))
        result: array[int] | range
        if zero_price and zero_stock:
            result = candidates if isinstance(candidates, range) else array("l", candidates)
        else:
            prices, stock = self.prices[list_code], self.stock
            result = array(
                "l",
                (
                    i
                    for i in candidates
                    if (zero_price or prices[i] != 0) and (zero_stock or stock[i] > 0)
                ),
            )
        if self.inactive:
            result = array("l", (i for i in result if i not in self.inactive))
        if len(self._select_cache) >= 16:
            self._select_cache.clear()
        self._select_cache[key] = result
        return result

    def row(
        self,
        i: int,
        list_code: str = DEFAULT_LIST,
        lists: Sequence[tuple[str, str]] = _LIST_ITEMS,
    ) -> dict[str, Any]:
        """The ConsultaStockYPrecios row of variant `i`, priced in `list_code`; `Precios` has
        one entry per (code, name) of `lists` (every code must be priced)."""
        # written for speed (a 500-row page is rendered on every request). Dragonfish sends
        # every quantity and price as a decimal with 4 places: 5 -> 5.0, never 5 (the
        # arrays hold floats; `+ 0.0` turns -0.0 into 0.0)
        a = self.var_art[i]
        color, color_desc = COLORS[self.var_color[i]]
        talle, talle_desc = TALLES[self.var_talle[i]]
        unit, unit_desc = UNITS[self.art_unit[a]]
        stock, comp = self.stock[i], self.comprometido[i]
        prices = self.prices
        return {
            "Articulo": self.art_code[a],
            "ArticuloDescripcion": self.art_desc[a],
            "ArticuloDescripcionAdicional": self.art_extra[a],
            "ArticuloImagen": self.art_image[a],
            "Color": color,
            "ColorDescripcion": color_desc,
            "Talle": talle,
            "TalleDescripcion": talle_desc,
            "Stock": round(stock, 4) + 0.0,
            "Disponible": round(stock - comp, 4) + 0.0,
            "Comprometido": round(comp, 4) + 0.0,
            "PendienteEntrega": round(self.pendiente[i], 4) + 0.0,
            "Lista": list_code,
            "Precio": round(prices[list_code][i], 4) + 0.0,
            "Precios": [
                {"Lista": name, "Precio": round(prices[code][i], 4) + 0.0} for code, name in lists
            ],
            "OrdenPorColor": self.var_ocolor[i],
            "OrdenPorTalle": self.var_otalle[i],
            "UnidadDeMedida": unit,
            "UnidadDeMedidaDescripcion": unit_desc,
        }
