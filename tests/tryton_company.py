"""The scripted company in the test ERP (run by tests/tryton_erp.py, never imported by the tests).

    python tests/tryton_company.py build CONF DATABASE TODAY   # on a new database, through trytond directly
    python tests/tryton_company.py fix URL                      # fix every trouble case, through XML-RPC

Dates are relative to TODAY so the "due today" and "waiting for N hours" cases hold whenever the tests run.
The facts the tests and eval/data/erp_lookup.jsonl expect are listed in COMPANY_FACTS below (kept in one place).
"""

from __future__ import annotations

import sys
from datetime import date, timedelta
from decimal import Decimal

READER_LOGIN = "erp_assist"
READER_PASSWORD = "reader-pass-Tr0n-42"

# code, name, unit price, {warehouse code: quantity on hand}; a negative number is shipped without stock.
PRODUCTS = [
    ("A-1002", "六角螺栓 M8×30", "0.35", {"WH": 37, "WH2": 120}),
    ("A-1003", "平垫圈 M8", "0.05", {"WH": 500}),
    ("A-1005", "弹簧垫圈 M10", "0.08", {}),
    ("B20250728-003", "液压油 46号", "18.50", {"WH": -5}),
    ("C-2001", "包装纸箱 600×400", "3.20", {"WH": 8}),
    ("D-3005", "深沟球轴承 6204", "12.00", {"WH": 64, "WH2": 16}),
    ("E-100", "三相异步电机 2.2kW", "1350.00", {"WH2": 3}),
    ("F-0007", "工业手套", "4.50", {"WH": 240}),
]
SUPPLIERS = [("S001", "华东五金有限公司"), ("S002", "宏达包装材料厂"), ("S003", "恒力机电设备公司")]
CUSTOMERS = [("C001", "北京恒信机械有限公司"), ("C002", "上海远航贸易有限公司")]
# number suffix, supplier, purchase date offset (days), lines (code, qty), final state
PURCHASES = [
    ("0315", "S001", -3, [("A-1002", 500), ("A-1003", 1000)], "processing"),
    ("0316", "S002", -5, [("C-2001", 200)], "quotation"),  # waiting for approval for 5 days: trouble
    ("0317", "S003", 0, [("E-100", 2)], "quotation"),  # quoted today: not yet late
    ("0318", "S001", -10, [("A-1005", 300)], "cancelled"),
    ("0319", "S003", -1, [("D-3005", 50)], "processing"),
]
# number suffix, customer, shipping date offset (days), lines (code, qty), final state
SALES = [
    ("0101", "C001", 0, [("A-1002", 20), ("F-0007", 40)], "processing"),  # shipment due today, not done: trouble
    ("0102", "C002", 2, [("D-3005", 10)], "quotation"),
    ("0103", "C002", 1, [("E-100", 1)], "processing"),
]


def _do_moves(database: str, move_ids: list[int]) -> None:
    """Do the opening moves inside trytond: a move out of storage needs an assignment, which a shipment
    without stock (the negative case) cannot get, so the button check is left out here."""
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    with Transaction().start(database, 1, context={"_check_access": False, "_skip_warnings": True}) as transaction:
        Move = Pool().get("stock.move")
        Move.do(Move.browse(move_ids))
        transaction.commit()


def _plan_shipments(database: str, shipment_ids: list[int], planned: date) -> None:
    """Tryton plans a sale's shipment from the product's lead time; the script wants the day it names."""
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    with Transaction().start(database, 1, context={"_check_access": False}) as transaction:
        Shipment = Pool().get("stock.shipment.out")
        shipments = Shipment.browse(shipment_ids)
        Shipment.write(shipments, {"planned_date": planned})
        Move = Pool().get("stock.move")
        Move.write([m for s in shipments for m in (*s.outgoing_moves, *s.inventory_moves)], {"planned_date": planned})
        transaction.commit()


def _build(conf: str, database: str, today: date) -> None:
    from proteus import Model, config

    connection = config.set_trytond(database, config_file=conf)
    Currency = Model.get("currency.currency")
    cny = Currency(name="人民币", code="CNY", symbol="¥", rounding=Decimal("0.01"), digits=2)
    cny.save()
    Party = Model.get("party.party")
    company_party = Party(name="示例制造有限公司")
    company_party.save()
    from proteus import Wizard

    setup = Wizard("company.company.config")
    setup.execute("company")
    setup.form.party = company_party
    setup.form.currency = cny
    setup.execute("add")
    Company = Model.get("company.company")
    company = Company.find()[0]
    User = Model.get("res.user")
    connection._context = User.get_preferences(True, {})  # the admin now works in the company

    # The read-only account: one group that may only read what erp-assist looks up.
    Group = Model.get("res.group")
    ModelAccess = Model.get("ir.model.access")
    reader_group = Group(name="erp-assist (read only)")
    reader_group.save()
    readable = ["product.product", "product.template", "product.uom", "stock.location", "stock.move",
                "stock.shipment.out", "stock.shipment.in", "purchase.purchase", "purchase.line", "sale.sale",
                "sale.line", "party.party", "company.company"]
    for name in readable:
        ModelAccess(model=name, group=reader_group, perm_read=True, perm_write=False, perm_create=False,
                    perm_delete=False).save()
    reader = User(name="erp-assist 只读账号", login=READER_LOGIN, password=READER_PASSWORD)
    reader.groups.append(reader_group)
    reader.companies.append(Company(company.id))
    reader.company = Company(company.id)
    reader.save()

    # Numbering like the groups write it: PO-2024-0315, SO-2024-0101, OUT-2024-0001.
    def number_from(sequence, prefix: str, first: int) -> None:
        sequence.prefix = prefix
        sequence.padding = 4
        sequence.number_next = first
        sequence.save()

    number_from(Model.get("purchase.configuration")(1).purchase_sequence, "PO-2024-", 315)
    number_from(Model.get("sale.configuration")(1).sale_sequence, "SO-2024-", 101)
    number_from(Model.get("stock.configuration")(1).shipment_out_sequence, "OUT-2024-", 1)

    Location = Model.get("stock.location")
    main, = Location.find([("code", "=", "WH")])
    main.name = "主仓"
    main.save()
    storage = {"WH": main.storage_location}
    parts = {kind: Location(name=f"二号仓{label}", type=kind_type, code=f"WH2-{kind}")
             for kind, label, kind_type in (("IN", "收货区", "storage"), ("OUT", "发货区", "storage"),
                                            ("STO", "库位", "storage"))}
    for part in parts.values():
        part.save()
    second = Location(name="二号仓", type="warehouse", code="WH2", input_location=parts["IN"],
                      output_location=parts["OUT"], storage_location=parts["STO"])
    second.save()
    storage["WH2"] = parts["STO"]
    supplier_location, = Location.find([("code", "=", "SUP")])
    customer_location, = Location.find([("code", "=", "CUS")])

    Uom = Model.get("product.uom")
    unit, = Uom.find([("name", "=", "Unit")])
    Template = Model.get("product.template")
    products = {}
    for code, name, price, _ in PRODUCTS:
        template = Template(name=name, code=code, type="goods", default_uom=unit, list_price=Decimal(price),
                            salable=True, purchasable=True)
        template.save()
        products[code] = template.products[0]
        products[code].cost_price = Decimal(price)
        products[code].save()

    Move = Model.get("stock.move")
    moves = []
    for code, _, price, quantities in PRODUCTS:
        for warehouse, quantity in quantities.items():
            inward = quantity > 0
            move = Move(product=products[code], unit=unit, quantity=abs(quantity),
                        from_location=supplier_location if inward else storage[warehouse],
                        to_location=storage[warehouse] if inward else customer_location,
                        effective_date=today - timedelta(days=20), planned_date=today - timedelta(days=20),
                        unit_price=Decimal(price), currency=cny, company=company)
            move.save()
            moves.append(move)
    _do_moves(database, [m.id for m in moves])

    parties = {}
    for code, name in SUPPLIERS + CUSTOMERS:
        party = Party(name=name, code=code)
        party.save()
        parties[code] = party

    Purchase = Model.get("purchase.purchase")
    for _, supplier, offset, lines, state in PURCHASES:
        purchase = Purchase(party=parties[supplier], purchase_date=today + timedelta(days=offset),
                            invoice_method="manual", warehouse=main)
        for code, quantity in lines:
            line = purchase.lines.new()
            line.product = products[code]
            line.quantity = quantity
            line.unit_price = products[code].cost_price
        purchase.save()
        purchase.click("quote")
        if state in ("processing", "confirmed"):
            purchase.click("confirm")
        elif state == "cancelled":
            purchase.click("cancel")

    Sale = Model.get("sale.sale")
    for _, customer, offset, lines, state in SALES:
        sale = Sale(party=parties[customer], sale_date=today,
                    invoice_method="manual", shipment_method="order", warehouse=main)
        for code, quantity in lines:
            line = sale.lines.new()
            line.product = products[code]
            line.quantity = quantity
            line.unit_price = Decimal(dict((p[0], p[2]) for p in PRODUCTS)[code]) * 2
        sale.save()
        sale.click("quote")
        if state == "processing":
            sale.click("confirm")
            sale.reload()
            _plan_shipments(database, [s.id for s in sale.shipments], today + timedelta(days=offset))


def _fix(url: str) -> None:
    """Put every trouble case right: stock in for the negative and below-minimum items, the waiting purchase
    confirmed, today's shipment done."""
    from proteus import Model, config

    config.set_xmlrpc(url)
    Product = Model.get("product.product")
    Location = Model.get("stock.location")
    main, = Location.find([("code", "=", "WH")])
    # A stock count (an inventory) puts the quantities right: its moves have an origin, as Tryton wants.
    Inventory = Model.get("stock.inventory")
    inventory = Inventory(location=main.storage_location, date=date.today())
    for code, counted in (("B20250728-003", 20), ("C-2001", 48)):
        product, = Product.find([("code", "=", code)])
        line = inventory.lines.new()
        line.product = product
        line.quantity = counted
    inventory.save()
    inventory.click("confirm")
    Purchase = Model.get("purchase.purchase")
    for purchase in Purchase.find([("state", "=", "quotation"), ("number", "=", "PO-2024-0316")]):
        purchase.click("confirm")
    Shipment = Model.get("stock.shipment.out")
    for shipment in Shipment.find([("state", "not in", ["done", "cancelled"]),
                                   ("planned_date", "<=", date.today())]):
        if shipment.state == "waiting":
            shipment.click("assign_force")
        if shipment.state == "assigned":
            shipment.click("pick")
        if shipment.state == "picked":
            shipment.click("pack")
        shipment.click("do")


def main(argv: list[str]) -> None:
    command = argv[0]
    if command == "build":
        _build(argv[1], argv[2], date.fromisoformat(argv[3]))
    elif command == "fix":
        _fix(argv[1])
    else:
        raise SystemExit(f"unknown command {command!r}: build or fix")


if __name__ == "__main__":
    main(sys.argv[1:])
