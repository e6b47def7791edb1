"""The demo company's customers: one list shared by every demo dataset.

Larkspur Systems sells warehouse-robotics hardware and software. The CRM seed (companies,
contacts, deals), the warehouse generator (customers, orders) and the knowledge base all refer
to these customers by ``key`` so that the same "Acme" appears everywhere. Deterministic: no
randomness here; generators derive their own seeded randomness from these records.
"""

from __future__ import annotations

from dataclasses import dataclass

REGIONS: tuple[tuple[str, str], ...] = (
    ("NA-W", "North America West"),
    ("NA-E", "North America East"),
    ("EMEA", "Europe, Middle East & Africa"),
    ("APAC", "Asia Pacific"),
    ("LATAM", "Latin America"),
)

# Sales reps in policies/directory.yaml who own accounts, by region.
ACCOUNT_OWNERS: dict[str, tuple[str, ...]] = {
    "NA-W": ("u_alice", "u_bob"),
    "NA-E": ("u_devon",),
    "EMEA": ("u_devon", "u_alice"),
    "APAC": ("u_bob",),
    "LATAM": ("u_alice",),
}


@dataclass(frozen=True)
class Customer:
    key: str  # stable slug, e.g. "acme"
    name: str
    domain: str
    industry: str
    region: str  # one of REGIONS' codes
    city: str
    country: str
    employees: int
    tier: str  # strategic | enterprise | mid-market

    @property
    def owner(self) -> str:
        """Directory id of the account owner (deterministic from the key)."""
        owners = ACCOUNT_OWNERS[self.region]
        return owners[sum(map(ord, self.key)) % len(owners)]


_ROWS = """\
acme|Acme Corporation|acme.example|Manufacturing|NA-W|San Jose|US|5200|strategic
globex|Globex Industries|globex.example|Logistics|NA-E|Boston|US|3100|enterprise
initech|Initech|initech.example|Software|NA-W|Austin|US|850|mid-market
umbrella|Umbrella Health|umbrella.example|Healthcare|NA-E|Philadelphia|US|12000|strategic
stark|Stark Fabrication|starkfab.example|Manufacturing|NA-E|New York|US|7400|strategic
wayne|Wayne Logistics|waynelog.example|Logistics|NA-E|Newark|US|2600|enterprise
soylent|Soylent Foods|soylent.example|Food & Beverage|NA-W|Portland|US|1900|enterprise
hooli|Hooli|hooli.example|Software|NA-W|Palo Alto|US|9800|strategic
piedpiper|Pied Piper|piedpiper.example|Software|NA-W|Palo Alto|US|120|mid-market
vandelay|Vandelay Imports|vandelay.example|Wholesale|NA-E|New York|US|340|mid-market
tyrell|Tyrell Dynamics|tyrell.example|Electronics|NA-W|Los Angeles|US|4300|enterprise
cyberdyne|Cyberdyne Systems|cyberdyne.example|Electronics|NA-W|Sunnyvale|US|2200|enterprise
oscorp|Oscorp Materials|oscorp.example|Chemicals|NA-E|Jersey City|US|3900|enterprise
gringotts|Gringotts Storage|gringotts.example|Warehousing|EMEA|London|GB|1500|enterprise
zenith|Zenith Retail|zenithretail.example|Retail|EMEA|Manchester|GB|6100|strategic
nordwind|Nordwind Spedition|nordwind.example|Logistics|EMEA|Hamburg|DE|2800|enterprise
bergmann|Bergmann Maschinenbau|bergmann.example|Manufacturing|EMEA|Stuttgart|DE|4700|strategic
lumiere|Lumiere Cosmetiques|lumiere.example|Consumer Goods|EMEA|Lyon|FR|1300|mid-market
vittoria|Vittoria Alimentari|vittoria.example|Food & Beverage|EMEA|Milan|IT|950|mid-market
fjord|Fjord Freight|fjordfreight.example|Logistics|EMEA|Oslo|NO|700|mid-market
alhambra|Alhambra Distribucion|alhambra.example|Wholesale|EMEA|Madrid|ES|1100|mid-market
savanna|Savanna Grocers|savanna.example|Retail|EMEA|Nairobi|KE|800|mid-market
sakura|Sakura Electronics|sakura.example|Electronics|APAC|Osaka|JP|8800|strategic
kiwi|Kiwi Parcel|kiwiparcel.example|Logistics|APAC|Auckland|NZ|450|mid-market
lotus|Lotus Pharmaceuticals|lotuspharma.example|Healthcare|APAC|Mumbai|IN|5600|enterprise
dragon|Red Dragon Trading|reddragon.example|Wholesale|APAC|Singapore|SG|2300|enterprise
koala|Koala Outfitters|koala.example|Retail|APAC|Sydney|AU|1700|mid-market
hanok|Hanok Motors|hanok.example|Automotive|APAC|Seoul|KR|9100|strategic
mekong|Mekong Textiles|mekong.example|Textiles|APAC|Ho Chi Minh City|VN|2500|mid-market
andes|Andes Mining Supply|andesmining.example|Mining|LATAM|Santiago|CL|1400|enterprise
carioca|Carioca Bebidas|carioca.example|Food & Beverage|LATAM|Rio de Janeiro|BR|3300|enterprise
azteca|Azteca Autopartes|azteca.example|Automotive|LATAM|Monterrey|MX|2900|enterprise
pampas|Pampas Agro|pampas.example|Agriculture|LATAM|Buenos Aires|AR|600|mid-market
quetzal|Quetzal Retail|quetzal.example|Retail|LATAM|Guatemala City|GT|350|mid-market
massive|Massive Dynamic|massivedynamic.example|Research|NA-E|New York|US|6600|strategic
aperture|Aperture Labs|aperture.example|Research|NA-W|Seattle|US|1250|enterprise
blueSun|Blue Sun Beverages|bluesun.example|Food & Beverage|NA-W|Denver|US|2100|enterprise
wonka|Wonka Confectionery|wonka.example|Food & Beverage|EMEA|Zurich|CH|1050|mid-market
monarch|Monarch Paper|monarchpaper.example|Paper & Packaging|NA-E|Scranton|US|400|mid-market
atlas|Atlas Cold Chain|atlascold.example|Warehousing|NA-W|Phoenix|US|1600|enterprise
"""

CUSTOMERS: tuple[Customer, ...] = tuple(
    Customer(k, n, d, ind, r, city, c, int(e), t)
    for k, n, d, ind, r, city, c, e, t in (line.split("|") for line in _ROWS.splitlines())
)

PRODUCTS: tuple[tuple[str, str, str, float], ...] = (
    # sku, name, category, list price (USD)
    ("LRK-AMR-100", "Larkspur AMR-100 mobile robot", "Hardware", 38000.0),
    ("LRK-AMR-300", "Larkspur AMR-300 heavy-payload robot", "Hardware", 72000.0),
    ("LRK-ARM-20", "Larkspur Pick Arm 20", "Hardware", 54000.0),
    ("LRK-DOCK", "Charging dock", "Hardware", 4200.0),
    ("LRK-SENSE", "Shelf sensor kit (100 pack)", "Hardware", 9500.0),
    ("LRK-FLEET-STD", "Fleet Manager Standard (annual, per site)", "Software", 24000.0),
    ("LRK-FLEET-ENT", "Fleet Manager Enterprise (annual, per site)", "Software", 60000.0),
    ("LRK-VISION", "Vision Analytics add-on (annual)", "Software", 18000.0),
    ("LRK-SIM", "Digital Twin Simulator (annual)", "Software", 30000.0),
    ("LRK-SUP-GOLD", "Gold Support (annual)", "Services", 15000.0),
    ("LRK-SUP-PLAT", "Platinum Support (annual)", "Services", 32000.0),
    ("LRK-INSTALL", "Installation & commissioning (per robot)", "Services", 2500.0),
    ("LRK-TRAIN", "Operator training (per day)", "Services", 1800.0),
    ("LRK-SPARE-BAT", "Spare battery pack", "Parts", 1900.0),
    ("LRK-SPARE-WHL", "Drive wheel assembly", "Parts", 650.0),
    ("LRK-SPARE-LID", "LiDAR unit replacement", "Parts", 5400.0),
)


def customer(key: str) -> Customer:
    for c in CUSTOMERS:
        if c.key == key:
            return c
    raise KeyError(key)


__all__ = ["ACCOUNT_OWNERS", "CUSTOMERS", "PRODUCTS", "REGIONS", "Customer", "customer"]
