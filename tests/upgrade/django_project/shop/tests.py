import datetime

from django.template.loader import render_to_string
from django.test import TestCase

from shop.clock import order_time
from shop.models import Order


class OrderTests(TestCase):
    def test_orders_listed(self):
        Order.objects.create(customer="ada", placed_at=datetime.datetime(2024, 1, 2), total=3)
        self.assertQuerysetEqual(Order.objects.values_list("customer", flat=True), ["ada"], transform=str)

    def test_template_counts(self):
        self.assertEqual(render_to_string("shop/orders.html", {"orders": []}).strip(), "no orders")
        self.assertEqual(render_to_string("shop/orders.html", {"orders": [1, 2]}).strip(), "2 orders")

    def test_clock_is_utc(self):
        self.assertEqual(order_time(2024, 1, 2).utcoffset().total_seconds(), 0)
