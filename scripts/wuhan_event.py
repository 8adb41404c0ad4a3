"""Write configs/wuhan-0510.toml: the model event at full size, deterministically.

    python scripts/wuhan_event.py [OUT]        # default: configs/wuhan-0510.toml

The main show has all 16 studios (Beijing, Hong Kong and the 14 Wuhan districts and
zones, names in Chinese and English); two district shows run beside it. The catalogue
is the hand-written products below (real Hubei brands) plus generated ones: 1,000+
products from 400+ enterprises in five categories with prices in each category's range.
The same seed always gives the same file (the config is committed; re-run after editing).
Secrets are demo-only.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = 510

# (id, 中文, English): Wuhan's 13 districts plus the Donghu High-tech zone.
DISTRICTS = [
    ("jiangan", "江岸", "Jiang'an"),
    ("jianghan", "江汉", "Jianghan"),
    ("qiaokou", "硚口", "Qiaokou"),
    ("hanyang", "汉阳", "Hanyang"),
    ("wuchang", "武昌", "Wuchang"),
    ("qingshan", "青山", "Qingshan"),
    ("hongshan", "洪山", "Hongshan"),
    ("dongxihu", "东西湖", "Dongxihu"),
    ("hannan", "汉南", "Hannan"),
    ("caidian", "蔡甸", "Caidian"),
    ("jiangxia", "江夏", "Jiangxia"),
    ("huangpi", "黄陂", "Huangpi"),
    ("xinzhou", "新洲", "Xinzhou"),
    ("donghu", "东湖高新", "Donghu High-tech"),
]
# District shows beside the main one: (show id, 中文, English, district ids).
# fmt: off
DISTRICT_SHOWS = [
    ("wuhan-north", "汉北专场 · 黄陂 新洲 江岸", "North Wuhan: Huangpi, Xinzhou, Jiang'an",
     ["huangpi", "xinzhou", "jiangan"]),
    ("wuhan-south", "汉南专场 · 江夏 蔡甸 汉南", "South Wuhan: Jiangxia, Caidian, Hannan",
     ["jiangxia", "caidian", "hannan"]),
]
# fmt: on

# Hand-written: real Hubei brands (they come first in the catalogue). A row: id|name (中文)|
# name (English)|enterprise|price|was_price (yuan)|promo (may be empty)|stock.
CLASSICS_TABLE = """
wangji-chicken-soup|汪集鸡汤|Wangji chicken soup|武汉汪集鸡汤有限公司|39.9|59.9|买二赠一|5000
dongfeng-ax7|东风风神 AX7 乘用车|Dongfeng AX7 passenger car|东风汽车集团|119800|135800|直播专享 立减1.6万|200
cailinji-reganmian|蔡林记热干面 6盒装|Cai Lin Ji hot dry noodles, 6 boxes|武汉蔡林记餐饮|49.9|69.0|包邮|20000
zhouheiya-duck-neck|周黑鸭 卤鸭脖|Zhou Hei Ya braised duck neck|周黑鸭食品股份有限公司|59.0|79.0|第二件半价|30000
jingwu-duck-neck|精武鸭脖|Jingwu duck neck|武汉精武食品|45.0|58.0||10000
bestore-snack-box|良品铺子 零食大礼包|Bestore snack gift box|良品铺子股份有限公司|99.0|158.0|满99减30|15000
erchang-soda|汉口二厂汽水 12瓶|Hankow Erchang soda, 12 bottles|汉口二厂|66.0|84.0||8000
honghu-lotus-root|洪湖莲藕 5斤|Honghu lotus root, 2.5 kg|洪湖市农业合作社|29.9|45.0||12000
qianjiang-crayfish|潜江小龙虾 3斤|Qianjiang crayfish, 1.5 kg|潜江市虾稻产业协会|128.0|168.0|产地直发|6000
enshi-yulu-tea|恩施玉露 绿茶|Enshi Yulu green tea|恩施玉露茶业|198.0|268.0||3000
zigui-navel-orange|秭归脐橙 10斤|Zigui navel oranges, 5 kg|秭归县脐橙协会|49.9|69.9|买二赠一|9000
xiaogan-sesame-candy|孝感麻糖|Xiaogan sesame candy|孝感麻糖食品厂|25.8|32.0||18000
wuchang-fish|武昌鱼 礼盒|Wuchang bream gift box|鄂州武昌鱼集团|88.0|118.0||4000
"""

# category -> (enterprise kinds (中文, English), items (中文, English), price range in yuan, stock range)
CATEGORIES: dict[str, tuple[list[tuple[str, str]], list[tuple[str, str]], tuple[float, float], tuple[int, int]]] = {
    "food": (
        [("食品有限公司", "Foods"), ("农业合作社", "Farm Co-op"), ("特产商行", "Specialties"), ("茶业", "Tea")],
        [
            ("热干面礼盒", "hot dry noodle gift box"),
            ("卤鸭脖", "braised duck neck"),
            ("莲藕", "lotus root"),
            ("小龙虾", "crayfish"),
            ("豆皮", "doupi rice cake"),
            ("米酒", "sweet rice wine"),
            ("鱼糕", "fish cake"),
            ("绿茶", "green tea"),
            ("菜薹", "purple cabbage shoots"),
            ("藕粉", "lotus root starch"),
            ("香菇", "shiitake mushrooms"),
            ("脐橙", "navel oranges"),
        ],
        (9.9, 299.0),
        (500, 50_000),
    ),
    "cosmetics": (
        [("化妆品有限公司", "Cosmetics"), ("生物科技", "Biotech"), ("日化", "Daily Chemicals")],
        [
            ("保湿面霜", "moisturising cream"),
            ("精华液", "serum"),
            ("洗面奶", "face wash"),
            ("口红", "lipstick"),
            ("防晒霜", "sunscreen"),
            ("面膜 10片", "face masks, 10 pack"),
        ],
        (39.0, 899.0),
        (200, 20_000),
    ),
    "clothing": (
        [("服饰有限公司", "Apparel"), ("纺织", "Textiles"), ("制衣厂", "Garments")],
        [
            ("羽绒服", "down jacket"),
            ("真丝连衣裙", "silk dress"),
            ("衬衫", "shirt"),
            ("运动鞋", "trainers"),
            ("羊毛衫", "wool sweater"),
            ("汉绣丝巾", "Han-embroidered silk scarf"),
        ],
        (59.0, 1299.0),
        (100, 10_000),
    ),
    "appliances": (
        [("电器有限公司", "Appliances"), ("智能科技", "Smart Tech"), ("光电", "Optoelectronics")],
        [
            ("空调", "air conditioner"),
            ("冰箱", "refrigerator"),
            ("洗衣机", "washing machine"),
            ("电饭煲", "rice cooker"),
            ("空气净化器", "air purifier"),
            ("激光电视", "laser TV"),
        ],
        (199.0, 12_999.0),
        (50, 5000),
    ),
    "cars": (
        [("汽车销售服务有限公司", "Motors"), ("新能源汽车", "New Energy Vehicles")],
        [
            ("纯电轿车", "electric saloon"),
            ("插混SUV", "plug-in hybrid SUV"),
            ("城市SUV", "city SUV"),
            ("MPV", "MPV"),
        ],
        (79_800.0, 329_800.0),
        (10, 300),
    ),
}
# Enterprises per district per category (14 districts x 30 = 420 enterprises).
ENTERPRISES = {"food": 14, "cosmetics": 5, "clothing": 5, "appliances": 4, "cars": 2}
NAME_STEMS = [
    ("长江", "Changjiang"), ("楚天", "Chutian"), ("江城", "Jiangcheng"), ("黄鹤", "Yellow Crane"),
    ("知音", "Zhiyin"), ("东湖", "East Lake"), ("汉水", "Hanshui"), ("荆楚", "Jingchu"),
    ("白云", "Baiyun"), ("龟山", "Guishan"), ("蛇山", "Sheshan"), ("木兰", "Mulan"),
    ("晴川", "Qingchuan"), ("鹦鹉", "Yingwu"), ("珞珈", "Luojia"), ("九峰", "Jiufeng"),
]  # fmt: skip
PROMOS = ["", "", "包邮", "买二赠一", "第二件半价", "满99减30", "直播专享", "产地直发"]


def _price(rng: random.Random, low: float, high: float) -> float:
    """A shop price: .9 endings below 100 yuan, whole tens above 1,000."""
    raw = low * (high / low) ** rng.random()  # log-uniform: many cheap items, few dear ones
    if raw < 100:
        return round(int(raw) + 0.9, 1)
    if raw < 1000:
        return float(int(raw))
    return float(int(raw / 100) * 100 - 2 if raw < 10_000 else int(raw / 100) * 100)


def catalogue(rng: random.Random) -> list[dict[str, object]]:
    """The generated products, each from an enterprise of its district; stable order and ids."""
    rows: list[dict[str, object]] = []
    for d_id, d_cn, d_en in DISTRICTS:
        for category, count in ENTERPRISES.items():
            kinds, items, (low, high), (s_low, s_high) = CATEGORIES[category]
            for n in range(count):
                stem_cn, stem_en = NAME_STEMS[(n + len(rows)) % len(NAME_STEMS)]
                kind_cn, kind_en = kinds[n % len(kinds)]
                enterprise = f"武汉{d_cn}{stem_cn}{kind_cn}"
                enterprise_en = f"Wuhan {d_en} {stem_en} {kind_en}"
                # 2-3 products per enterprise: 420 enterprises, 1,000+ products.
                for k in range(2 + (n % 2)):
                    item_cn, item_en = items[(n * 3 + k) % len(items)]
                    price = _price(rng, low, high)
                    row: dict[str, object] = {
                        "id": f"{d_id}-{category}-{n:02d}-{k}",
                        "name": f"{stem_cn}{item_cn}",
                        "name_en": f"{stem_en} {item_en} ({enterprise_en})",
                        "enterprise": enterprise,
                        "price": price,
                        "was_price": round(price * rng.choice((1.15, 1.2, 1.3, 1.5)), 1),
                        "stock": rng.randint(s_low, s_high),
                    }
                    promo = rng.choice(PROMOS)
                    if promo:
                        row["promo"] = promo
                    rows.append(row)
    return rows


def _v(value: object) -> str:
    # JSON strings are valid TOML basic strings (same escapes); numbers print the same.
    return json.dumps(value, ensure_ascii=False)


def _inline(row: dict[str, object]) -> str:
    return "{ " + ", ".join(f"{k} = {_v(v)}" for k, v in row.items()) + " }"


def _studio(d_id: str, d_cn: str, d_en: str) -> dict[str, object]:
    return {
        "id": f"wuhan-{d_id}",
        "name": f"{d_cn}{'区' if d_id != 'donghu' else ''}直播间",
        "name_en": f"{d_en} {'district' if d_id != 'donghu' else 'zone'}",
        "place": f"武汉·{d_cn} Wuhan {d_en}",
    }


def _show(
    lines: list[str], head: dict[str, object], studios: list[dict[str, object]], products: list[dict[str, object]]
) -> None:
    lines.append("[[shows]]")
    lines += [f"{k} = {_v(v)}" for k, v in head.items()]
    lines.append("studios = [")
    lines += [f"  {_inline(s)}," for s in studios]
    lines.append("]")
    lines.append(f"# {len(products)} products from {len({p['enterprise'] for p in products})} enterprises")
    lines.append("products = [")
    lines += [f"  {_inline(p)}," for p in products]
    lines.append("]")
    lines += ["", "[shows.outputs]", "hls = true", "flv = true", "hls_segment_seconds = 2.0", "hls_window = 6", ""]


CLASSIC_FIELDS = ("id", "name", "name_en", "enterprise", "price", "was_price", "promo", "stock")


def _cells(row: str) -> list[str | int | float]:
    """A row of CLASSICS_TABLE: its texts, and its numbers as written (119800 stays an int)."""
    cells = [cell.strip() for cell in row.split("|")]
    return [*cells[:4], *(float(c) if "." in c else int(c) for c in cells[4:6]), cells[6], int(cells[7])]


def render() -> str:
    rng = random.Random(SEED)
    classics: list[dict[str, object]] = [
        {k: v for k, v in zip(CLASSIC_FIELDS, _cells(row), strict=True) if v != ""}
        for row in CLASSICS_TABLE.strip().splitlines()
    ]
    generated = catalogue(rng)
    lines = [
        "# The model event: a May 10 live-commerce charity broadcast for Wuhan, with live rooms in",
        "# Beijing, Hong Kong and the 14 Wuhan districts and zones, and two district shows beside it.",
        "# GENERATED by scripts/wuhan_event.py (deterministic): edit that script, then re-run it.",
        "# Secrets here are for the demo only: set your own for a real show.",
        "",
        "[server]",
        'listen_host = "127.0.0.1"',
        "listen_port = 8080",
        'operator_token = "director-demo-token"',
        'link_secret = "change-me-demo-link-secret-0510"',
        "link_ttl_hours = 24",
        'ice_hosts = ["127.0.0.1"]     # addresses offered to studios; add the LAN/public address for real hosts',
        'redis_url = ""                # e.g. "redis://127.0.0.1:6379/0"; empty keeps state in memory',
        'data_dir = "var"',
        "",
    ]
    main_studios: list[dict[str, object]] = [
        {"id": "beijing", "name": "北京直播间", "name_en": "Beijing studio", "place": "北京 Beijing"},
        {"id": "hongkong", "name": "香港直播间", "name_en": "Hong Kong studio", "place": "香港 Hong Kong"},
    ]
    main_studios += [_studio(*d) for d in DISTRICTS]
    main = {
        "id": "wuhan-0510",
        "title": "为湖北拼单 · Buy for Hubei 0510",
        "width": 1280,
        "height": 720,
        "fps": 30,
        "video_bitrate": 2500000,
        "audio_bitrate": 128000,
        "slate_text": "马上回来 · Back soon",
    }
    _show(lines, main, main_studios, classics + generated)
    by_id = {d[0]: d for d in DISTRICTS}
    for show_id, title_cn, title_en, districts in DISTRICT_SHOWS:
        head = {**main, "id": show_id, "title": f"{title_cn} · {title_en}", "video_bitrate": 2000000}
        studios = [_studio(*by_id[d]) for d in districts]
        products = [p for p in generated if str(p["id"]).split("-")[0] in districts]
        _show(lines, head, studios, products)
    return "\n".join(lines)


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "configs" / "wuhan-0510.toml"
    out.write_text(render(), encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
