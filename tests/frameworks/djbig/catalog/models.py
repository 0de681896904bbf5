from django.db import models


class Product(models.Model):
    name = models.CharField(max_length=100)


class Review(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE)
    stars = models.IntegerField()
