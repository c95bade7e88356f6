from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "itline.delivery"
    label = "delivery"
    verbose_name = "Delivery control"
